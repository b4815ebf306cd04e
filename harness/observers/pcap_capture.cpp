#include "observers/pcap_capture.hpp"

#include <pcap/pcap.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace fh::observers {

struct PcapCapture::Handle {
  pcap_t* pcap = nullptr;
  ~Handle() {
    if (pcap != nullptr) pcap_close(pcap);
  }
};

std::string CaptureStats::to_string() const {
  return "received " + std::to_string(received) + ", captured " + std::to_string(captured) +
         ", dropped " + std::to_string(dropped) + ", dropped by interface " +
         std::to_string(if_dropped) + ", truncated " + std::to_string(truncated);
}

PcapCapture::PcapCapture(CaptureOptions options) : options_(std::move(options)) {}

PcapCapture::~PcapCapture() {
  stop();
}

std::string PcapCapture::filter_for(const std::vector<std::uint16_t>& ports) {
  std::string filter;
  for (auto port : ports) {
    if (!filter.empty()) filter += " or ";
    filter += "tcp port " + std::to_string(port);
  }
  return filter.empty() ? "tcp" : filter;
}

void PcapCapture::start(const std::vector<std::uint16_t>& ports) {
  if (running_) throw CaptureError("capture already running");
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  auto handle = std::make_unique<Handle>();
  handle->pcap = pcap_create(options_.interface.c_str(), errbuf);
  if (handle->pcap == nullptr)
    throw CaptureError("pcap_create " + options_.interface + ": " + errbuf);
  auto fail = [&](const std::string& what) {
    throw CaptureError(what + " on " + options_.interface + ": " + pcap_geterr(handle->pcap));
  };
  // Immediate mode: without it a short capture can end with packets still in a partly filled
  // block (measured: tcpdump stopped within 1 s kept 0 of 42 packets; real-peers.md §5).
  if (pcap_set_immediate_mode(handle->pcap, 1) != 0) fail("pcap_set_immediate_mode");
  if (pcap_set_snaplen(handle->pcap, options_.snaplen) != 0) fail("pcap_set_snaplen");
  if (pcap_set_buffer_size(handle->pcap, options_.buffer_bytes) != 0) fail("pcap_set_buffer_size");
  if (pcap_set_timeout(handle->pcap, options_.poll_timeout_ms) != 0) fail("pcap_set_timeout");
  if (int rc = pcap_activate(handle->pcap); rc < 0) {
    std::string why = rc == PCAP_ERROR_PERM_DENIED ? "permission denied (needs root or CAP_NET_RAW)"
                                                   : pcap_statustostr(rc);
    throw CaptureError("pcap_activate " + options_.interface + ": " + why + ": " +
                       pcap_geterr(handle->pcap));
  }
  if (options_.before_filter) options_.before_filter();
  filter_ = filter_for(ports);
  bpf_program program{};
  if (pcap_compile(handle->pcap, &program, filter_.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
    fail("pcap_compile \"" + filter_ + "\"");
  const int set = pcap_setfilter(handle->pcap, &program);
  pcap_freecode(&program);
  if (set != 0) fail("pcap_setfilter");
  linktype_ = pcap_datalink(handle->pcap);
  handle_ = std::move(handle);
  packets_.clear();
  stats_ = {};
  count_losses_from_here();
  thread_error_.clear();
  stop_requested_ = false;
  running_ = true;
  // The socket is bound and filtered: the kernel queues matching packets in the ring from
  // here on, whether or not the thread has started reading.
  thread_ = std::thread([this] { loop(); });
}

namespace {
void on_packet(u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
  auto* packets = reinterpret_cast<std::vector<Packet>*>(user);
  Packet packet;
  packet.ts_us = static_cast<std::int64_t>(header->ts.tv_sec) * 1000000 + header->ts.tv_usec;
  packet.wire_length = header->len;
  packet.data.assign(reinterpret_cast<const char*>(bytes), header->caplen);
  packets->push_back(std::move(packet));
}
}  // namespace

void PcapCapture::count_losses_from_here() {
  // From pcap_activate until pcap_setfilter the socket took every packet on the interface,
  // other runs' too (another harness capturing lo at the same time: ctest -j, the soak): the
  // kernel counted them, and dropped them once the ring was full. Those are not this run's
  // losses. Empty the ring (libpcap filters what it holds in userland, so only our packets
  // are kept) and count from here: a drop after this is a packet the filter let through.
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  auto* user = reinterpret_cast<u_char*>(&packets_);
  pcap_setnonblock(handle_->pcap, 1, errbuf);
  for (int i = 0; i < 1000000 && pcap_dispatch(handle_->pcap, -1, on_packet, user) > 0; ++i) {
  }
  pcap_setnonblock(handle_->pcap, 0, errbuf);
  pcap_stat ps{};
  if (pcap_stats(handle_->pcap, &ps) == 0) {
    baseline_received_ = ps.ps_recv;
    baseline_dropped_ = ps.ps_drop;
    baseline_if_dropped_ = ps.ps_ifdrop;
  }
}

void PcapCapture::loop() {
  auto* user = reinterpret_cast<u_char*>(&packets_);
  while (!stop_requested_.load(std::memory_order_acquire)) {
    // Returns after the poll timeout at the latest (immediate mode uses TPACKET_V2, whose
    // poll honours the timeout), or when pcap_breakloop() wakes it.
    int n = pcap_dispatch(handle_->pcap, -1, on_packet, user);
    if (n == PCAP_ERROR) {
      thread_error_ = std::string("pcap_dispatch: ") + pcap_geterr(handle_->pcap);
      return;
    }
  }
  // Drain what the kernel queued before stop(): on loopback a packet is in the ring by the
  // time the receiving socket can read it, so this gets everything the parties exchanged.
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_setnonblock(handle_->pcap, 1, errbuf);
  // A pcap_breakloop() that arrived between two dispatches is still pending: the first call
  // then returns PCAP_ERROR_BREAK (clearing it) without reading, so go on after that one.
  for (int i = 0; i < 1000000; ++i) {
    int n = pcap_dispatch(handle_->pcap, -1, on_packet, user);
    if (n == PCAP_ERROR_BREAK) continue;
    if (n <= 0) break;
  }
}

CaptureStats PcapCapture::stop() {
  if (!running_) return stats_;
  stop_requested_.store(true, std::memory_order_release);
  pcap_breakloop(handle_->pcap);
  thread_.join();
  running_ = false;
  pcap_stat ps{};
  if (pcap_stats(handle_->pcap, &ps) == 0) {
    stats_.received = ps.ps_recv - baseline_received_;
    stats_.dropped = ps.ps_drop - baseline_dropped_;
    stats_.if_dropped = ps.ps_ifdrop - baseline_if_dropped_;
  }
  stats_.captured = packets_.size();
  for (const auto& p : packets_)
    if (p.data.size() < p.wire_length) ++stats_.truncated;
  handle_.reset();
  if (!thread_error_.empty()) throw CaptureError(thread_error_);
  return stats_;
}

void PcapCapture::save_pcapng(const std::string& path) const {
  write_pcapng(path, packets_, linktype_, options_.snaplen, options_.interface);
}

// ---------------------------------------------------------------- pcapng
// pcapng (IETF draft-ietf-opsawg-pcapng): little-endian here, every block padded to 32 bits,
// its total length at both ends. libpcap 1.10 writes only classic pcap, hence this.

namespace {

void put16(std::string& out, std::uint16_t v) {
  out.append(reinterpret_cast<const char*>(&v), 2);
}
void put32(std::string& out, std::uint32_t v) {
  out.append(reinterpret_cast<const char*>(&v), 4);
}
void put64(std::string& out, std::uint64_t v) {
  out.append(reinterpret_cast<const char*>(&v), 8);
}
void pad32(std::string& out) {
  out.append((4 - out.size() % 4) % 4, '\0');
}

// Block type, total length, body, total length. `body` must already be 32-bit aligned.
void append_block(std::string& out, std::uint32_t type, const std::string& body) {
  const auto total = static_cast<std::uint32_t>(12 + body.size());
  put32(out, type);
  put32(out, total);
  out += body;
  put32(out, total);
}

void append_option(std::string& body, std::uint16_t code, const std::string& value) {
  put16(body, code);
  put16(body, static_cast<std::uint16_t>(value.size()));
  body += value;
  pad32(body);
}

}  // namespace

void write_pcapng(const std::string& path, const std::vector<Packet>& packets, int linktype,
                  int snaplen, const std::string& interface_name) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw CaptureError("cannot write " + path + ": " + std::strerror(errno));
  std::string out;
  {  // Section Header Block: byte-order magic in native order tells readers our endianness.
    std::string body;
    put32(body, 0x1A2B3C4D);
    put16(body, 1);                          // major
    put16(body, 0);                          // minor
    put64(body, ~std::uint64_t{0});          // section length: unknown
    append_option(body, 4, "fcgi-harness");  // shb_userappl
    put32(body, 0);                          // opt_endofopt
    append_block(out, 0x0A0D0D0A, body);
  }
  {  // Interface Description Block; timestamps in microseconds (if_tsresol 6 is the default).
    std::string body;
    put16(body, static_cast<std::uint16_t>(linktype));
    put16(body, 0);
    put32(body, static_cast<std::uint32_t>(snaplen));
    append_option(body, 2, interface_name);          // if_name
    append_option(body, 9, std::string(1, '\x06'));  // if_tsresol: 10^-6
    put32(body, 0);
    append_block(out, 0x00000001, body);
  }
  file.write(out.data(), static_cast<std::streamsize>(out.size()));
  for (const auto& packet : packets) {
    out.clear();
    std::string body;
    body.reserve(20 + packet.data.size() + 4);
    const auto ts = static_cast<std::uint64_t>(packet.ts_us);
    put32(body, 0);  // interface id
    put32(body, static_cast<std::uint32_t>(ts >> 32));
    put32(body, static_cast<std::uint32_t>(ts & 0xffffffffu));
    put32(body, static_cast<std::uint32_t>(packet.data.size()));
    put32(body, packet.wire_length);
    body += packet.data;
    pad32(body);
    append_block(out, 0x00000006, body);  // Enhanced Packet Block
    file.write(out.data(), static_cast<std::streamsize>(out.size()));
  }
  file.flush();
  if (!file) throw CaptureError("cannot write " + path + ": " + std::strerror(errno));
}

}  // namespace fh::observers
