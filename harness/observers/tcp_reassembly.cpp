#include "observers/tcp_reassembly.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace fh::observers {

namespace {

std::uint16_t be16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
std::uint32_t be32(const unsigned char* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

constexpr int kDltNull = 0, kDltEn10mb = 1, kDltRaw = 12, kDltRawAlt = 101, kDltLinuxSll = 113,
              kDltLinuxSll2 = 276;

}  // namespace

std::string Endpoint::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v6 ? AF_INET6 : AF_INET, address, text, sizeof text);
  return is_v6 ? "[" + std::string(text) + "]:" + std::to_string(port)
               : std::string(text) + ":" + std::to_string(port);
}

std::optional<TcpSegment> parse_tcp_segment(const Packet& packet, std::size_t index, int linktype) {
  const auto* p = reinterpret_cast<const unsigned char*>(packet.data.data());
  std::size_t n = packet.data.size();
  std::size_t at = 0;
  int ethertype = 0;  // 0: decide from the IP version nibble
  if (linktype == kDltEn10mb) {
    if (n < 14) return std::nullopt;
    ethertype = be16(p + 12);
    at = 14;
    while ((ethertype == 0x8100 || ethertype == 0x88a8) && n >= at + 4) {  // 802.1Q tags
      ethertype = be16(p + at + 2);
      at += 4;
    }
  } else if (linktype == kDltLinuxSll) {
    if (n < 16) return std::nullopt;
    ethertype = be16(p + 14);
    at = 16;
  } else if (linktype == kDltLinuxSll2) {
    if (n < 20) return std::nullopt;
    ethertype = be16(p);
    at = 20;
  } else if (linktype == kDltNull) {
    at = 4;
  } else if (linktype != kDltRaw && linktype != kDltRawAlt) {
    return std::nullopt;
  }
  if (n <= at) return std::nullopt;
  const int version = p[at] >> 4;
  if (ethertype == 0) ethertype = version == 6 ? 0x86dd : 0x0800;
  TcpSegment s;
  s.packet = index;
  s.ts_us = packet.ts_us;
  std::size_t ip_end = n;
  if (ethertype == 0x0800 && version == 4) {
    if (n < at + 20) return std::nullopt;
    const std::size_t ihl = std::size_t{p[at] & 0x0fu} * 4;
    const std::size_t total = be16(p + at + 2);
    if (p[at + 9] != 6 || ihl < 20) return std::nullopt;
    if ((be16(p + at + 6) & 0x3fff) != 0) return std::nullopt;  // fragments: not on loopback
    std::memcpy(s.source.address, p + at + 12, 4);
    std::memcpy(s.destination.address, p + at + 16, 4);
    ip_end = std::min(n, at + total);  // Ethernet may pad short frames
    at += ihl;
  } else if (ethertype == 0x86dd && version == 6) {
    if (n < at + 40) return std::nullopt;
    int next = p[at + 6];
    ip_end = std::min(n, at + 40 + be16(p + at + 4));
    s.source.is_v6 = s.destination.is_v6 = true;
    std::memcpy(s.source.address, p + at + 8, 16);
    std::memcpy(s.destination.address, p + at + 24, 16);
    at += 40;
    // Extension headers that may precede TCP (RFC 8200 §4): hop-by-hop, routing, destination.
    while ((next == 0 || next == 43 || next == 60) && ip_end >= at + 8) {
      next = p[at];
      at += (std::size_t{p[at + 1]} + 1) * 8;
    }
    if (next != 6) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (ip_end < at + 20) return std::nullopt;
  const unsigned char* tcp = p + at;
  s.source.port = be16(tcp);
  s.destination.port = be16(tcp + 2);
  s.seq = be32(tcp + 4);
  s.ack = be32(tcp + 8);
  const std::size_t data_offset = static_cast<std::size_t>(tcp[12] >> 4) * 4;
  const std::uint8_t flags = tcp[13];
  s.fin = flags & 0x01;
  s.syn = flags & 0x02;
  s.rst = flags & 0x04;
  s.psh = flags & 0x08;
  s.ack_flag = flags & 0x10;
  if (data_offset < 20 || ip_end < at + data_offset) return std::nullopt;
  s.payload.assign(reinterpret_cast<const char*>(tcp + data_offset), ip_end - at - data_offset);
  return s;
}

const StreamChunk* Direction::chunk_at(std::uint64_t offset) const {
  auto it = std::upper_bound(chunks.begin(), chunks.end(), offset,
                             [](std::uint64_t o, const StreamChunk& c) { return o < c.offset; });
  if (it == chunks.begin()) return nullptr;
  --it;
  return offset < it->offset + it->length ? &*it : nullptr;
}

void Reassembler::add_all(const std::vector<Packet>& packets, int linktype) {
  for (std::size_t i = 0; i < packets.size(); ++i) {
    auto segment = parse_tcp_segment(packets[i], i, linktype);
    if (segment)
      add(*segment);
    else
      ++non_tcp_;
  }
}

std::size_t Reassembler::connection_for(const TcpSegment& s, int& direction) {
  const bool opening_syn = s.syn && !s.ack_flag;
  auto it = live_.find({s.source, s.destination});
  if (it != live_.end()) {
    Connection& c = connections_[it->second];
    direction = c.initiator == s.source ? 0 : 1;
    // A new SYN on a finished 4-tuple (port reuse, TIME_WAIT recycling) is a new connection;
    // the same SYN again is a retransmission.
    const bool new_syn = opening_syn && (!c.syn_seen || c.initiator_isn != s.seq);
    if (!new_syn) return it->second;
  }
  Connection c;
  c.first_packet = s.packet;
  c.opened_us = s.ts_us;
  bool source_initiates = true;
  if (opening_syn) {
    c.syn_seen = true;
    c.initiator_isn = s.seq;
  } else if (s.syn) {
    source_initiates = false;  // a SYN-ACK: the SYN itself was not captured
  } else {
    auto listening = [&](std::uint16_t port) {
      return std::find(listening_ports_.begin(), listening_ports_.end(), port) !=
             listening_ports_.end();
    };
    source_initiates = !(listening(s.source.port) && !listening(s.destination.port));
  }
  c.initiator = source_initiates ? s.source : s.destination;
  c.acceptor = source_initiates ? s.destination : s.source;
  c.dir[0].from = c.dir[1].to = c.initiator;
  c.dir[0].to = c.dir[1].from = c.acceptor;
  connections_.push_back(std::move(c));
  const std::size_t index = connections_.size() - 1;
  live_[{connections_[index].initiator, connections_[index].acceptor}] = index;
  live_[{connections_[index].acceptor, connections_[index].initiator}] = index;
  direction = source_initiates ? 0 : 1;
  if (opening_syn) events_.push_back(TcpEvent{TcpEvent::Kind::open, index, 0, s.packet, s.ts_us});
  return index;
}

void Reassembler::add(const TcpSegment& s) {
  int direction = 0;
  const std::size_t index = connection_for(s, direction);
  Connection& c = connections_[index];
  c.last_us = s.ts_us;
  Direction& d = c.dir[direction];
  if (s.syn) {
    // The SYN takes one sequence number (RFC 9293 §3.4): data starts at ISN + 1.
    if (!d.base_known || d.data.empty()) {
      d.base_seq = s.seq + 1;
      d.base_known = true;
    }
  } else if (!d.base_known) {
    d.base_seq = s.seq;  // mid-connection: the first byte seen is offset 0
    d.base_known = true;
  }
  add_payload(d, s);
  if (s.fin && !d.fin) {
    d.fin = true;
    d.fin_packet = s.packet;
    d.fin_us = s.ts_us;
    events_.push_back(TcpEvent{TcpEvent::Kind::fin, index, direction, s.packet, s.ts_us});
  }
  if (s.rst && !d.rst) {
    d.rst = true;
    d.rst_packet = s.packet;
    d.rst_us = s.ts_us;
    events_.push_back(TcpEvent{TcpEvent::Kind::rst, index, direction, s.packet, s.ts_us});
  }
}

void Reassembler::add_payload(Direction& d, const TcpSegment& s) {
  if (s.payload.empty()) return;
  ++d.segments;
  const std::uint32_t seq = s.syn ? s.seq + 1 : s.seq;  // data on a SYN (TFO) follows it
  // Sequence numbers wrap at 2^32: take the 64-bit offset nearest to where the stream is.
  const std::uint64_t expected = d.data.size();
  const auto delta =
      static_cast<std::int32_t>(seq - d.base_seq - static_cast<std::uint32_t>(expected));
  const std::int64_t offset = static_cast<std::int64_t>(expected) + delta;
  std::string_view bytes = s.payload;
  std::int64_t start = offset;
  if (start + static_cast<std::int64_t>(bytes.size()) <= static_cast<std::int64_t>(expected)) {
    ++d.retransmitted;
    return;
  }
  if (start < static_cast<std::int64_t>(expected)) {
    ++d.retransmitted;  // partly old: keep only the new tail
    bytes.remove_prefix(static_cast<std::size_t>(static_cast<std::int64_t>(expected) - start));
    start = static_cast<std::int64_t>(expected);
  }
  const auto at = static_cast<std::uint64_t>(start);
  if (at > expected) {
    ++d.out_of_order;
    auto& piece = d.pending[at];
    if (piece.bytes.size() < bytes.size()) piece = {std::string(bytes), s.packet, s.ts_us};
    return;
  }
  d.chunks.push_back(StreamChunk{at, bytes.size(), s.packet, s.ts_us});
  d.data.append(bytes);
  deliver(d);
}

void Reassembler::deliver(Direction& d) {
  while (!d.pending.empty()) {
    auto it = d.pending.begin();
    const std::uint64_t end = d.data.size();
    if (it->first > end) return;  // still a hole
    std::string_view bytes = it->second.bytes;
    const std::uint64_t skip = end - it->first;
    if (skip < bytes.size()) {
      bytes.remove_prefix(skip);
      d.chunks.push_back(StreamChunk{end, bytes.size(), it->second.packet, it->second.ts_us});
      d.data.append(bytes);
    }
    d.pending.erase(it);
  }
}

}  // namespace fh::observers
