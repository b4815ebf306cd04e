// TCP reassembly of captured packets, per connection and direction: the byte stream each
// endpoint sent, and for every byte the captured segment that first carried it, plus the
// connection's SYN, FIN and RST with who sent them. Robust to retransmissions, overlapping
// and out-of-order segments, and sequence numbers that wrap (RFC 9293 §3.4).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "observers/pcap_capture.hpp"

namespace fh::observers {

/// An IPv4 or IPv6 address (IPv4 in the first 4 bytes, is_v6 false) and a TCP port.
struct Endpoint {
  bool is_v6 = false;
  std::uint8_t address[16] = {};
  std::uint16_t port = 0;
  std::string to_string() const;  // "127.0.0.1:9000", "[::1]:9000"
  bool operator==(const Endpoint&) const = default;
  auto operator<=>(const Endpoint&) const = default;
};

/// One TCP segment parsed from a frame (Ethernet, Linux cooked or raw IP; IPv4 or IPv6).
struct TcpSegment {
  std::size_t packet = 0;  // index in the capture
  std::int64_t ts_us = 0;
  Endpoint source, destination;
  std::uint32_t seq = 0, ack = 0;
  bool syn = false, ack_flag = false, fin = false, rst = false, psh = false;
  std::string payload;
};
/// nullopt for frames that are not TCP (ARP, UDP, IP fragments, ...).
std::optional<TcpSegment> parse_tcp_segment(const Packet& packet, std::size_t index, int linktype);

/// The bytes [offset, offset + length) of a direction's stream arrived in packet `packet`.
struct StreamChunk {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::size_t packet = 0;
  std::int64_t ts_us = 0;
};

/// One direction of a connection: the bytes in order, without duplicates.
struct Direction {
  Endpoint from, to;
  std::string data;
  std::vector<StreamChunk> chunks;  // ascending offsets, covering data exactly
  std::uint64_t segments = 0;       // segments with payload
  std::uint64_t retransmitted = 0;  // segments whose payload had been seen (in part or whole)
  std::uint64_t out_of_order = 0;   // segments that arrived ahead of a hole
  bool fin = false;                 // FIN seen (and every byte before it)
  bool rst = false;
  std::optional<std::size_t> fin_packet, rst_packet;
  std::int64_t fin_us = 0, rst_us = 0;
  /// Bytes still missing before buffered out-of-order data (a hole at the end of capture).
  bool has_hole() const { return !pending.empty(); }

  /// The chunk that carried byte `offset`; nullptr past the end.
  const StreamChunk* chunk_at(std::uint64_t offset) const;

  // Reassembly state.
  bool base_known = false;
  std::uint32_t base_seq = 0;  // sequence number of stream offset 0
  struct Piece {
    std::string bytes;
    std::size_t packet = 0;
    std::int64_t ts_us = 0;
  };
  std::map<std::uint64_t, Piece> pending;  // out-of-order data by stream offset
};

/// What happened on a connection, in capture order.
struct TcpEvent {
  enum class Kind { open, fin, rst };
  Kind kind = Kind::open;
  std::size_t connection = 0;  // index in Reassembler::connections()
  int direction = 0;           // 0: sent by the connection's initiator, 1: by the acceptor
  std::size_t packet = 0;
  std::int64_t ts_us = 0;
};

struct Connection {
  Endpoint initiator, acceptor;  // who sent the SYN, and to whom
  bool syn_seen = false;         // false: the capture started mid-connection (guessed roles)
  Direction dir[2];              // [0]: initiator -> acceptor, [1]: acceptor -> initiator
  std::size_t first_packet = 0;
  std::int64_t opened_us = 0;
  std::int64_t last_us = 0;  // the last segment seen in either direction
  std::uint32_t initiator_isn = 0;
  bool closed() const { return dir[0].rst || dir[1].rst || (dir[0].fin && dir[1].fin); }
};

class Reassembler {
 public:
  /// `listening_ports`: ports of listeners, used to tell the acceptor of a connection whose
  /// SYN was not captured.
  explicit Reassembler(std::vector<std::uint16_t> listening_ports = {})
      : listening_ports_(std::move(listening_ports)) {}

  void add(const TcpSegment& segment);
  /// Parses and adds every packet of a capture.
  void add_all(const std::vector<Packet>& packets, int linktype);

  const std::vector<Connection>& connections() const { return connections_; }
  const std::vector<TcpEvent>& events() const { return events_; }
  std::uint64_t non_tcp_packets() const { return non_tcp_; }

 private:
  std::size_t connection_for(const TcpSegment& segment, int& direction);
  void add_payload(Direction& d, const TcpSegment& segment);
  void deliver(Direction& d);

  std::vector<std::uint16_t> listening_ports_;
  std::vector<Connection> connections_;
  std::map<std::pair<Endpoint, Endpoint>, std::size_t> live_;  // (from, to) -> connection
  std::vector<TcpEvent> events_;
  std::uint64_t non_tcp_ = 0;
};

}  // namespace fh::observers
