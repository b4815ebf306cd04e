// Decodes the reassembled streams of a capture into protocol facts: FastCGI records on
// gateway<->backend connections, HTTP/1.1 response framing on client<->gateway connections,
// and the connections' SYN/FIN/RST, as events of party "wire" for the run's bus.
//
// Event names (party "wire"; connection = the wire's own connection number, 1-based in SYN
// order; detail says who sent it: "from gateway", "from backend", "from client"):
//   connection_open            detail "gateway 127.0.0.1:40001 -> backend 127.0.0.1:9000"
//   tcp_fin, tcp_rst           detail "from backend" ...
//   fcgi_record                value content length; request_id; detail "FCGI_PARAMS id=1 len=0
//                              pad=0 from gateway, packet 7, same segment as previous record"
//                              ("new segment" otherwise)
//   begin_request              value role; detail "role 1 keep_conn 0"
//   params                     at the empty PARAMS: value = pairs; detail
//                              "REQUEST_METHOD=GET REQUEST_URI=/probe?size=10 (17 params)"
//   params_terminator, stdin_terminator, stdout_terminator, stderr_terminator, data_terminator
//                              the empty stream record (FastCGI 1.0 §3.3); same detail
//   end_request                value app status; detail "FCGI_REQUEST_COMPLETE app_status 0"
//   abort_request
//   stdout_bytes               once per request (at END_REQUEST, else at the connection's end):
//                              value = STDOUT bytes after the CGI response head; detail
//                              "STDOUT 1082 bytes: head 58, body 1024, CGI status 200"
//   fcgi_error                 the stream does not decode (detail: the codec's error)
//   fcgi_truncated             the connection ended inside a record; value = bytes of it seen
//   http_request_head          detail "GET /probe?size=10 HTTP/1.1"
//   http_response_head         value status; detail "HTTP/1.1 200 OK, chunked"
//   http_response_complete     value body bytes; the framing (Content-Length, chunked, close)
//                              completed
//   http_response_truncated    value body bytes; detail what was missing
//   completeness               per HTTP request, last: the completeness oracle's word for it
//                              (observers/completeness.hpp), e.g. "complete: ...",
//                              "error-after-complete: HTTP 502 although ..."
//   tcp_hole                   bytes never captured in a direction (value: how many at least)
//   capture_stopped            publish_capture_stats(): value = packets lost (dropped by the
//                              kernel or interface, or truncated); nonzero must make the run ERROR
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "events/bus.hpp"
#include "observers/tcp_reassembly.hpp"

namespace fh::observers {

/// Which listening port is what. Connections to other ports are only reported at TCP level.
struct WireRoles {
  std::uint16_t backend_port = 0;  // FastCGI (gateway -> backend)
  std::uint16_t gateway_port = 0;  // HTTP/1.1 (client -> gateway)
};

/// One FastCGI record as it travelled.
struct WireRecord {
  std::uint32_t connection = 0;  // 1-based wire connection number
  int direction = 0;             // 0: gateway -> backend, 1: backend -> gateway
  std::uint8_t type = 0;
  std::uint16_t request_id = 0;
  std::uint16_t content_length = 0;
  std::uint8_t padding_length = 0;
  std::uint64_t offset = 0;                   // of the header in the direction's stream
  std::size_t first_packet = 0;               // the segment its header started in
  std::size_t last_packet = 0;                // the segment that completed it
  std::int64_t ts_us = 0;                     // when it was complete on the wire
  bool shares_segment_with_previous = false;  // started in the segment the previous one ended in
};

struct WireEvent {
  std::int64_t ts_us = 0;
  std::size_t packet = 0;                   // the segment that made it so (ordering key)
  const events::EventDecl* decl = nullptr;  // wire_events.hpp
  std::string name() const { return decl ? std::string(decl->name) : std::string(); }
  std::uint32_t connection = 0;
  std::uint16_t request_id = 0;
  std::uint64_t value = 0;
  std::string detail;
};

class WireDecoder {
 public:
  explicit WireDecoder(WireRoles roles) : roles_(roles) {}

  /// Decodes every connection of `tcp`; replaces earlier results.
  void decode(const Reassembler& tcp);

  const std::vector<WireRecord>& records() const { return records_; }
  /// In capture order (ties: the order they happened within a segment).
  const std::vector<WireEvent>& events() const { return events_; }
  /// Total STDOUT bytes after the CGI heads over every backend connection (the completeness
  /// oracle's FastCGI side).
  std::uint64_t stdout_body_bytes() const { return stdout_body_bytes_; }

  /// Publishes events() as party "wire". Packet times are system-clock microseconds; an
  /// event's `at` is steady_origin + (packet time - system_origin), so take both origins at
  /// the same moment (the run's start) and the wire lines up with the other parties.
  void publish_to(events::Bus& bus, events::Clock::time_point steady_origin,
                  std::chrono::system_clock::time_point system_origin) const;

 private:
  void decode_fastcgi(const Connection& c, std::uint32_t number);
  void decode_http(const Connection& c, std::uint32_t number);
  void add(std::int64_t ts_us, std::size_t packet, const events::EventDecl& decl,
           std::uint32_t connection, std::uint16_t request_id, std::uint64_t value,
           std::string detail);

  WireRoles roles_;
  std::vector<WireRecord> records_;
  std::vector<WireEvent> events_;
  std::uint64_t stdout_body_bytes_ = 0;
};

/// Publishes wire.capture_stopped now: value = packets lost, detail = stats.to_string().
void publish_capture_stats(events::Bus& bus, const CaptureStats& stats);

}  // namespace fh::observers
