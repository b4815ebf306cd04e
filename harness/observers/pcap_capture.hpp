// Live packet capture on loopback with libpcap, for the wire observer: what a real gateway
// or backend put on the wire, independent of what any party says it did.
//
// The capture runs on its own thread (the run's io_context stays single-threaded and never
// waits for it). Packets are kept whole in memory until stop(); the run then reassembles and
// decodes them (tcp_reassembly.hpp, wire_decoder.hpp) and may save them as pcapng.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fh::observers {

/// One captured frame: the link-layer bytes (up to the snap length) and the kernel's
/// timestamp, microseconds since the Unix epoch (system clock).
struct Packet {
  std::int64_t ts_us = 0;
  std::uint32_t wire_length = 0;  // the frame's length on the wire (>= data.size())
  std::string data;
};

/// pcap_stats at stop(), plus what the capture itself noticed.
struct CaptureStats {
  std::uint64_t received = 0;    // ps_recv: packets that passed the filter
  std::uint64_t dropped = 0;     // ps_drop: dropped by the kernel (ring buffer full)
  std::uint64_t if_dropped = 0;  // ps_ifdrop: dropped by the interface (interface-wide)
  std::uint64_t captured = 0;    // packets kept
  std::uint64_t truncated = 0;   // kept packets shorter than on the wire (snap length)
  /// Anything lost: the decoded streams have holes and the run must be ERROR.
  bool lost_packets() const { return dropped > 0 || if_dropped > 0 || truncated > 0; }
  std::string to_string() const;  // "received 120, captured 120, dropped 0, ..."
};

class CaptureError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CaptureOptions {
  std::string interface = "lo";
  // The largest frame lo carries: its gso_max_size (65536, `ip -d link show lo`) and the
  // 14-byte link header, rounded up. Not libpcap's 262144: the ring's slots are sized for the
  // snaplen, so a smaller one holds 4x the packets in the same memory. A longer frame would be
  // counted as truncated, and the run judged unjudgeable, never silently cut.
  int snaplen = 65536 + 128;
  // The kernel ring. Slots are sized for the snaplen, so 64 MiB held few enough packets that a
  // capture thread starved by a busy machine (CI building in parallel) lost some.
  int buffer_bytes = 256 << 20;
  int poll_timeout_ms = 20;  // pcap_dispatch wakes at least this often, so stop() is prompt
  // Called between pcap_activate and pcap_setfilter: a test widens that window, as a harness
  // starved of CPU (six of them on two cores) has it widened for it.
  std::function<void()> before_filter;
};

class PcapCapture {
 public:
  explicit PcapCapture(CaptureOptions options = {});
  ~PcapCapture();  // stops if running
  PcapCapture(const PcapCapture&) = delete;
  PcapCapture& operator=(const PcapCapture&) = delete;

  /// "tcp port 1234 or tcp port 5678".
  static std::string filter_for(const std::vector<std::uint16_t>& ports);

  /// Opens the interface (immediate mode), installs the filter on `ports` and starts the
  /// capture thread. Returns once the kernel filter is attached: every packet sent from then
  /// on is captured. Throws CaptureError (no permission, no such interface, bad filter).
  void start(const std::vector<std::uint16_t>& ports);
  /// Reads what is still queued in the kernel, stops the thread, and returns the statistics.
  /// Idempotent: a second call returns the same statistics.
  CaptureStats stop();
  bool running() const { return running_; }

  /// Valid after stop().
  const std::vector<Packet>& packets() const { return packets_; }
  const CaptureStats& stats() const { return stats_; }
  int linktype() const { return linktype_; }  // DLT_* (DLT_EN10MB on Linux lo)
  const std::string& filter() const { return filter_; }

  /// Writes the packets as pcapng (one section, one interface, one Enhanced Packet Block per
  /// packet with microsecond timestamps). Throws CaptureError if the file cannot be written.
  void save_pcapng(const std::string& path) const;

 private:
  void loop();

  CaptureOptions options_;
  struct Handle;
  std::unique_ptr<Handle> handle_;
  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  bool running_ = false;
  int linktype_ = 1;
  std::string filter_;
  std::string thread_error_;
  std::vector<Packet> packets_;  // written by the capture thread until it is joined
  CaptureStats stats_;
  // The kernel's counts (ps_recv, ps_drop, ps_ifdrop) once the filter was in place.
  std::uint64_t baseline_received_ = 0, baseline_dropped_ = 0, baseline_if_dropped_ = 0;
  void count_losses_from_here();
};

/// Writes `packets` as pcapng with the given link type and interface name.
void write_pcapng(const std::string& path, const std::vector<Packet>& packets, int linktype,
                  int snaplen, const std::string& interface_name);

}  // namespace fh::observers
