// What a run observes besides the parties' own events, owned in one place: the pcap capture of
// the run's TCP legs (observe: {wire: true}) and strace on the observed parties (observe:
// {syscalls: ...}). Both start once the parties are ready (readiness requests are not the
// scenario's), stop before the teardown (its closes are not the run's), and publish their
// events into the bus after it, on the run's clock.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "events/bus.hpp"
#include "observers/pcap_capture.hpp"
#include "observers/strace_timeline.hpp"
#include "observers/wire_decoder.hpp"
#include "runner/party.hpp"
#include "runner/timeline.hpp"
#include "scenario/model.hpp"

namespace fh::runner {

class RunObservers {
 public:
  RunObservers(const scenario::Scenario& scenario, events::Bus& bus, std::filesystem::path run_dir);
  ~RunObservers();
  RunObservers(const RunObservers&) = delete;
  RunObservers& operator=(const RunObservers&) = delete;

  /// Why the scenario's observers cannot run here (strace missing); nullopt when they can.
  std::optional<std::string> missing() const;
  /// The joined timeline's lanes and who is behind each in this run.
  std::vector<Lane> lanes(const Party& gateway, const Party& backend) const;

  /// Starts the capture on the parties' TCP ports and strace on each observed party (a real
  /// program's group; for fakes, the harness process). Throws with what failed.
  void start(const Party& gateway, const Party& backend, const std::function<void()>& pump);
  /// Ends the capture after `settle` (for the segments the client's last read raced with)
  /// and detaches strace, so the teardown's syscalls and packets are not the run's.
  /// Idempotent; `run_one_until` runs the run's loop meanwhile.
  void stop(const std::function<void(std::chrono::steady_clock::time_point)>& run_until);
  /// After the teardown: the wire's and the kernel's events join the bus, each at its time.
  /// True when anything was published (the bus log is then to be sorted by time).
  bool publish(const Party& gateway, const Party& backend,
               std::chrono::steady_clock::time_point steady_origin,
               std::chrono::system_clock::time_point system_origin);

  /// The capture lost packets: its statistics; nullopt when there was no capture or it lost
  /// nothing.
  std::optional<std::string> capture_losses() const;
  /// Writes the capture as `path` (pcapng), when there was one.
  void save_capture(const std::filesystem::path& path);
  /// strace logs of the timelines (and their messages).
  std::vector<std::filesystem::path> artefacts() const;

 private:
  const scenario::Scenario& scenario_;
  events::Bus& bus_;
  std::filesystem::path run_dir_;
  observers::WireRoles roles_;
  std::vector<std::uint16_t> ports_;
  std::unique_ptr<observers::PcapCapture> capture_;
  std::optional<observers::CaptureStats> capture_stats_;
  // One timeline per observed real program (unless its syscall faults' strace is it), and
  // one on the harness process for observed fakes.
  std::unique_ptr<observers::StraceTimeline> gateway_trace_;
  std::unique_ptr<observers::StraceTimeline> backend_trace_;
  std::unique_ptr<observers::StraceTimeline> harness_trace_;
  net::Address gateway_address_, backend_address_;
};

}  // namespace fh::runner
