// The embedded fake FastCGI backend: an application server on TCP or a unix socket that is
// correct by default (FastCGI 1.0) and serves the probe-app contract, with scripted faults
// that act at protocol events rather than after sleeps.
//
// Runs as C++20 coroutines on the caller's io_context (single thread): no locks, and the
// order of events is the order the protocol produced them.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "events/bus.hpp"
#include "net/address.hpp"

namespace fh::fake {

using Clock = std::chrono::steady_clock;

/// A protocol event on one backend connection at which a fault fires.
enum class BackendEvent {
  accepted,          // the connection was accepted; nothing read yet
  begin_request,     // BEGIN_REQUEST received
  params_received,   // the empty PARAMS record received (§3.3 stream end)
  stdin_received,    // the empty STDIN record received (the stdin terminator)
  headers_sent,      // the CGI response head was written as STDOUT
  body_bytes,        // `bytes` response body bytes were written (counted after the head)
  end_request_sent,  // END_REQUEST written
};

enum class BackendAction {
  close,  // FIN: close the connection (unread input may turn it into an RST, as in Linux)
  reset,  // RST: SO_LINGER 0, then close
  stall,  // stop reading and writing on this connection for `stall_ms` (0: until stopped)
};

struct BackendFault {
  BackendEvent at = BackendEvent::params_received;
  std::uint64_t bytes = 0;     // for body_bytes
  std::uint32_t delay_ms = 0;  // wait this long after the event, then act
  BackendAction action = BackendAction::close;
  std::uint32_t stall_ms = 0;  // for stall; 0 = until the backend stops
  /// 1-based index of the request (in arrival order across connections) the fault applies
  /// to; nullopt applies it to every request. For `accepted` (no request yet) it is the
  /// connection's 1-based accept order.
  std::optional<std::uint32_t> request_index;
};

struct BackendConfig {
  net::Address listen = net::Address::tcp("127.0.0.1", 0);
  bool mpxs_conns = false;       // FCGI_MPXS_CONNS answered in GET_VALUES; multiplex if true
  std::uint32_t max_conns = 64;  // FCGI_MAX_CONNS
  std::uint32_t max_reqs = 64;   // FCGI_MAX_REQS
  std::vector<BackendFault> faults;
  /// The run's event bus; every log entry is also published there. Not owned; may be null.
  events::Bus* bus = nullptr;
};

/// What the backend saw and did, in order, for expectations and the timeline.
struct BackendLogEntry {
  Clock::time_point at;
  std::uint32_t connection = 0;  // 1-based accept order
  std::uint16_t request_id = 0;  // 0 for connection-level entries
  std::string what;    // "accepted", "begin_request", "params_received", "stdin_received",
                       // "headers_sent", "end_request_sent", "fault:close", "peer_closed",
                       // "abort_request", "get_values", "unknown_type_sent", ...
  std::string detail;  // free text: flags, byte counts, errors
};

class FakeBackend {
 public:
  FakeBackend(boost::asio::io_context& io, BackendConfig config);
  ~FakeBackend();
  FakeBackend(const FakeBackend&) = delete;
  FakeBackend& operator=(const FakeBackend&) = delete;

  /// Binds and starts accepting. Throws boost::system::system_error if it cannot bind.
  void start();
  /// Where it listens (tcp port resolved). Valid after start().
  net::Address address() const;
  /// Closes the listener and every connection and cancels every timer, so that all of the
  /// backend's coroutines finish once the io_context runs again. Idempotent.
  void stop();

  const std::vector<BackendLogEntry>& log() const;
  std::uint32_t requests_begun() const;
  std::uint32_t requests_completed() const;  // END_REQUEST sent

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace fh::fake
