// The embedded fake gateway: an HTTP/1.1 listener on loopback that forwards each request to a
// FastCGI backend as a RESPONDER with CGI/1.1 parameters (RFC 3875) and streams the response
// back as it arrives. Error mapping is that of a careful production gateway:
//   backend fails before the response head is complete -> 502;
//   backend silent for backend_timeout_ms               -> 504;
//   backend fails after the head was sent               -> the client connection ends without
//                                                          the final chunk (visible truncation).
//
// Its parts (docs/architecture.md "The fake gateway"):
//   listener.cpp        client connections, the backend connection pool, probes
//   exchange.cpp        one HTTP request forwarded: the writer, the relay and the watchdog
//   request_writer.cpp  BEGIN_REQUEST, PARAMS, STDIN in the personality's writes
//   response_relay.cpp  the backend's records to the client's HTTP response
//   faults/             the families: personalities, terminator timing, body shaping, abort,
//                       backpressure, probes, relay modes, each bug emulation
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "events/bus.hpp"
#include "fake-gateways/faults/abort.hpp"
#include "fake-gateways/faults/backpressure.hpp"
#include "fake-gateways/faults/body_shaping.hpp"
#include "fake-gateways/faults/bugs.hpp"
#include "fake-gateways/faults/personalities.hpp"
#include "fake-gateways/faults/probes.hpp"
#include "fake-gateways/faults/relay_modes.hpp"
#include "fake-gateways/faults/request_records.hpp"
#include "fake-gateways/faults/terminator_timing.hpp"
#include "net/address.hpp"

namespace fh::fake {

struct GatewayConfig {
  net::Address listen = net::Address::tcp("127.0.0.1", 0);
  net::Address backend;                      // the FastCGI backend to forward to
  std::string document_root = "/srv/probe";  // SCRIPT_FILENAME = document_root + SCRIPT_NAME
  std::string server_name = "localhost";
  // Family "backend connection" (faults/backend_connection.cpp).
  std::uint32_t backend_connect_timeout_ms = 2000;
  std::uint32_t backend_timeout_ms = 5000;  // max silence while waiting for backend output
  bool keep_conn = false;                   // FCGI_KEEP_CONN; kept connections are reused
  // One part per family of keys (each defined in its family's header).
  Personality personality = Personality::plain;
  StdinTerminatorPlan stdin_terminator;
  BodyShape body;
  RequestRecords records;
  std::optional<AbortPlan> abort;
  BackendReadPlan backend_read;
  std::vector<GatewayProbe> probes;
  RelayMode relay;
  GatewayBugs bugs;  // in the order of the families list
  /// The run's event bus; every log entry is also published there. Not owned; may be null.
  events::Bus* bus = nullptr;
};

/// The personality's defaults for the keys it implies (haproxy: keep_conn on).
void apply_personality_defaults(GatewayConfig& config);

/// Reads a fake gateway's keys (topology.gateway without `kind`) from YAML text, through
/// every family's reader. For tests and `serve`; throws ScenarioError.
GatewayConfig gateway_config_from_yaml(const std::string& yaml, const std::string& origin = "yaml");

struct GatewayLogEntry {
  std::chrono::steady_clock::time_point at;
  std::uint32_t connection = 0;  // client connection, 1-based
  std::string what;              // event names: gateway_events.hpp
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
