// The embedded fake gateway: an HTTP/1.1 listener on loopback that forwards each request to a
// FastCGI backend as a RESPONDER with CGI/1.1 parameters (RFC 3875) and streams the response
// back as it arrives. Error mapping is that of a careful production gateway:
//   backend fails before the response head is complete -> 502;
//   backend silent for backend_timeout_ms               -> 504;
//   backend fails after the head was sent               -> the client connection ends without
//                                                          the final chunk (visible truncation).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/bus.hpp"
#include "net/address.hpp"

namespace fh::fake {

/// Whose write patterns and parameter conventions the gateway copies (docs/faults-gateway.md).
enum class Personality { plain, nginx, apache, lighttpd, haproxy, caddy };
std::string_view personality_name(Personality personality);
std::optional<Personality> parse_personality(std::string_view name);

/// The empty STDIN record that ends the request body (FastCGI 1.0 §3.3, §5.3).
struct StdinTerminatorPlan {
  std::uint32_t count = 1;                // 0: missing, 2: doubled
  std::uint32_t delay_ms = 0;             // late: sent this long after the body
  std::optional<events::Selector> after;  // late: only once this bus event was published
};

/// The request body to the backend in slices of `bytes`, one every `every_ms`.
struct BodyPace {
  std::uint64_t bytes = 0;
  std::uint32_t every_ms = 0;
};

/// Ends the backend request early: ABORT_REQUEST (§5.4), or closing the connection without it.
struct AbortPlan {
  enum class How { abort_request, close, reset };
  std::optional<events::Selector> after_event;    // once this bus event was published
  std::optional<std::uint64_t> after_body_bytes;  // once this many STDIN bytes were sent
  std::uint32_t delay_ms = 0;
  How how = How::abort_request;
};

/// Backpressure on the backend: the gateway reads its output late and/or slowly.
struct BackendReadPlan {
  std::uint32_t pause_ms = 0;      // no read for this long after the request was sent
  std::size_t bytes_per_read = 0;  // 0: up to 64 KiB per read
  std::uint32_t every_ms = 0;      // between reads
};

/// A management or odd request the gateway sends on its own connection before the first
/// client request is forwarded; what comes back is published on the bus.
struct GatewayProbe {
  enum class Kind { get_values, unknown_type, role, multiplex };
  Kind kind = Kind::get_values;
  std::uint32_t value = 0;  // unknown_type: the type; role: the role; multiplex: request count
};

/// Emulations of real gateways' bugs (seed races). All off: the gateway behaves correctly.
struct GatewayBugs {
  bool lighttpd_2796 = false;              // stream_response_body 2 never re-arms the read
  bool fail_on_stdin_write_error = false;  // Apache: EPIPE on STDIN fails the request (503)
  bool nginx_empty_200 = false;            // nginx: body write error -> 200 with empty body
};

struct GatewayConfig {
  net::Address listen = net::Address::tcp("127.0.0.1", 0);
  net::Address backend;  // the FastCGI backend to forward to
  std::uint32_t backend_connect_timeout_ms = 2000;
  std::uint32_t backend_timeout_ms = 5000;   // max silence while waiting for backend output
  bool keep_conn = false;                    // FCGI_KEEP_CONN; kept connections are reused
  std::string document_root = "/srv/probe";  // SCRIPT_FILENAME = document_root + SCRIPT_NAME
  std::string server_name = "localhost";
  Personality personality = Personality::plain;
  StdinTerminatorPlan stdin_terminator;
  std::optional<BodyPace> body_pace;
  std::size_t stdin_record_size = 0;        // max STDIN record content; 0: the personality's
  std::vector<std::size_t> stdin_segments;  // each STDIN write split into writes of these sizes
  std::optional<AbortPlan> abort;
  BackendReadPlan backend_read;
  std::vector<GatewayProbe> probes;
  /// lighttpd's server.stream-response-body: 0 buffer all, 1 stream (unbounded buffer),
  /// 2 stream with minimal buffering. Unset: relay each read before the next (no buffer).
  std::optional<std::uint32_t> stream_response_body;
  /// nginx without keep-conn: the client response ends only when the backend closes.
  bool wait_for_backend_close = false;
  GatewayBugs bugs;
  /// The run's event bus; every log entry is also published there. Not owned; may be null.
  events::Bus* bus = nullptr;
};

/// The personality's defaults for the keys it implies (haproxy: keep_conn on).
void apply_personality_defaults(GatewayConfig& config);

struct GatewayLogEntry {
  std::chrono::steady_clock::time_point at;
  std::uint32_t connection = 0;  // client connection, 1-based
  std::string what;              // event names: docs/faults-gateway.md
  std::string detail;
  std::uint16_t request_id = 0;  // FastCGI request id, 0: none
  std::uint64_t value = 0;       // bytes, protocol status, record type...
};

class FakeGateway {
 public:
  FakeGateway(boost::asio::io_context& io, GatewayConfig config);
  ~FakeGateway();
  FakeGateway(const FakeGateway&) = delete;
  FakeGateway& operator=(const FakeGateway&) = delete;

  void start();                  // binds and accepts; throws system_error on failure
  net::Address address() const;  // valid after start()
  void stop();                   // closes everything, cancels timers; idempotent
  const std::vector<GatewayLogEntry>& log() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace fh::fake
