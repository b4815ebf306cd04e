// The wire observer on any capture: frame parsing (Ethernet, Linux cooked, raw IP), TCP
// reassembly (retransmissions, holes, reordering, sequence wraparound, FIN/RST anywhere) and the
// FastCGI and HTTP decoders on top. Input, first byte:
//   even: one raw frame for parse_tcp_segment, link type chosen by the second byte;
//   odd:  a script of segments on two connections (client -> gateway port 8080 and gateway ->
//         backend port 9000), each "ctl seq-lo seq-hi len payload...": ctl bit 0 the direction,
//         bit 1 the connection, bits 2-5 SYN/FIN/RST/ACK; seq an offset from a base near 2^32
//         (so wraparound is exercised).
#include <cstdint>
#include <string>
#include <vector>

#include "observers/tcp_reassembly.hpp"
#include "observers/wire_decoder.hpp"

using namespace fh::observers;

namespace {

constexpr int kLinkTypes[] = {1, 113, 101, 228, 229, 0, 276};  // DLT_EN10MB, LINUX_SLL, RAW, ...

void one_frame(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return;
  Packet packet;
  packet.data.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  packet.wire_length = static_cast<std::uint32_t>(packet.data.size());
  const int linktype = kLinkTypes[data[0] % (sizeof kLinkTypes / sizeof kLinkTypes[0])];
  Reassembler tcp({9000, 8080});
  tcp.add_all({packet}, linktype);
  WireDecoder({9000, 8080}).decode(tcp);
}

Endpoint loopback(std::uint16_t port) {
  Endpoint e;
  e.address[0] = 127;
  e.address[3] = 1;
  e.port = port;
  return e;
}

void segment_script(const std::uint8_t* data, std::size_t size) {
  const Endpoint client = loopback(40000), gateway_http = loopback(8080);
  const Endpoint gateway_out = loopback(40001), backend = loopback(9000);
  constexpr std::uint32_t kBase = 0xFFFFF000u;
  Reassembler tcp({9000, 8080});
  std::size_t at = 0, index = 0;
  while (at + 4 <= size) {
    const std::uint8_t ctl = data[at];
    const std::uint32_t offset = data[at + 1] | (data[at + 2] << 8);
    const std::size_t length = std::min<std::size_t>(data[at + 3], size - at - 4);
    TcpSegment s;
    s.packet = index++;
    s.ts_us = static_cast<std::int64_t>(index) * 10;
    const bool fastcgi = ctl & 2;
    const bool reply = ctl & 1;
    const Endpoint& from_a = fastcgi ? gateway_out : client;
    const Endpoint& to_b = fastcgi ? backend : gateway_http;
    s.source = reply ? to_b : from_a;
    s.destination = reply ? from_a : to_b;
    s.seq = kBase + offset;
    s.syn = ctl & 4;
    s.fin = ctl & 8;
    s.rst = ctl & 16;
    s.ack_flag = ctl & 32;
    s.payload.assign(reinterpret_cast<const char*>(data + at + 4), length);
    tcp.add(s);
    at += 4 + length;
  }
  WireDecoder decoder({9000, 8080});
  decoder.decode(tcp);
  for (const auto& event : decoder.events()) (void)event.name();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  if (data[0] % 2 == 0)
    one_frame(data + 1, size - 1);
  else
    segment_script(data + 1, size - 1);
  return 0;
}
