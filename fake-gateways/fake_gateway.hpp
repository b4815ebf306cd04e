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
#include <string>
#include <vector>

#include "events/bus.hpp"
#include "net/address.hpp"

namespace fh::fake {

struct GatewayConfig {
  net::Address listen = net::Address::tcp("127.0.0.1", 0);
  net::Address backend;  // the FastCGI backend to forward to
  std::uint32_t backend_connect_timeout_ms = 2000;
  std::uint32_t backend_timeout_ms = 5000;   // max silence while waiting for backend output
  bool keep_conn = false;                    // FCGI_KEEP_CONN (connections are not reused yet)
  std::string document_root = "/srv/probe";  // SCRIPT_FILENAME = document_root + SCRIPT_NAME
  std::string server_name = "localhost";
  /// The run's event bus; every log entry is also published there. Not owned; may be null.
  events::Bus* bus = nullptr;
};

struct GatewayLogEntry {
  std::chrono::steady_clock::time_point at;
  std::uint32_t connection = 0;  // client connection, 1-based
  std::string what;              // "client_accepted", "request_head", "backend_connected",
                                 // "params_sent", "stdin_terminator_sent", "response_head_sent",
                                 // "end_request", "backend_error", "backend_timeout",
                                 // "answered_502", "answered_504", "client_truncated", ...
  std::string detail;
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
