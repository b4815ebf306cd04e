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

/// A protocol event at which a fault fires. The YAML names are the published event names.
enum class BackendEvent {
  accepted,                   // the connection was accepted; nothing read yet
  begin_request,              // BEGIN_REQUEST received
  params_complete,            // the empty PARAMS record received (§3.3 stream end)
  stdin_terminator_received,  // the empty STDIN record received
  headers_sent,               // the CGI response head was written as STDOUT
  end_request_sent,           // END_REQUEST written
  body_bytes,                 // `bytes` response body bytes were written (after the head)
  stdin_bytes,                // `bytes` request body bytes were read
  request_count,              // the `bytes`th BEGIN_REQUEST across connections arrived
  bus,                        // an event `event` ("party.name") of any party on the bus
  // The names before the scenario language settled; kept so existing code still compiles.
  params_received = params_complete,
  stdin_received = stdin_terminator_received,
};

enum class BackendAction {
  close,          // FIN: close the connection (unread input may turn it into an RST, as in Linux)
  shutdown,       // FIN only: shutdown(SHUT_WR); the backend keeps reading, writes no more
  reset,          // RST: SO_LINGER 0, then close
  stall,          // stop reading and writing on this connection
  stall_reading,  // stop reading (the peer's writes block once the socket buffers fill)
  stall_writing,  // stop writing
  end_request,    // write END_REQUEST now (early: the response goes on, without a second one)
  send_record,    // write `record` now (empty STDERR, unknown types, stray request ids, ...)
};

/// A record a send_record fault writes.
struct OddRecord {
  std::uint8_t type = 7;                    // FCGI_STDERR unless told; any byte (unknown types too)
  std::uint32_t length = 0;                 // content bytes, up to 65535
  std::uint8_t padding = 0;                 // §3.3 paddingLength
  bool inactive_id = false;                 // a request id that is not active on the connection
  std::optional<std::uint16_t> request_id;  // explicit id; default: the request's own
};

struct BackendFault {
  BackendEvent at = BackendEvent::params_complete;
  std::uint64_t bytes = 0;     // the N of body_bytes, stdin_bytes, request_count
  std::string event;           // for `bus`: "party.name" (Selector syntax)
  std::uint32_t delay_ms = 0;  // wait this long after the event, then act
  BackendAction action = BackendAction::close;
  std::uint32_t stall_ms = 0;  // for stalls; 0 = until `until`, else until stopped
  std::string until;           // for stalls: end the stall at this bus event ("party.name")
  /// For body_bytes: the record holding byte N is announced in full but written only up to
  /// byte N when the fault acts (without it, records are split so N ends a record).
  bool mid_record = false;
  OddRecord record;  // for send_record
  /// 1-based index of the request (in arrival order across connections) the fault applies
  /// to; nullopt applies it to every request. For `accepted` (no request yet) it is the
  /// connection's 1-based accept order. For `bus` it picks the connection serving request N.
  std::optional<std::uint32_t> request_index;
};

enum class KeepConnPolicy {
  honour,        // §5.1: close after the response iff FCGI_KEEP_CONN is clear
  ignore_set,    // close although FCGI_KEEP_CONN is set
  ignore_clear,  // stay open although FCGI_KEEP_CONN is clear
};

struct BackendConfig {
  net::Address listen = net::Address::tcp("127.0.0.1", 0);
  bool mpxs_conns = false;       // FCGI_MPXS_CONNS answered in GET_VALUES; multiplex if true
  std::uint32_t max_conns = 64;  // FCGI_MAX_CONNS
  std::uint32_t max_reqs = 64;   // FCGI_MAX_REQS
  std::vector<BackendFault> faults;

  // How records are written (every STDOUT/STDERR/END_REQUEST record of a response).
  std::size_t record_size = 65535;     // max content bytes per STDOUT/STDERR record
  std::uint8_t padding = 0;            // §3.3 paddingLength of every record
  bool padding_align8 = false;         // pad content to a multiple of 8 instead
  std::vector<std::size_t> segments;   // write each record as these byte counts, then rest
  std::uint32_t segment_delay_ms = 0;  // between segments (TCP_NODELAY keeps them apart)
  std::uint64_t stderr_every = 0;      // STDERR interleave: after every K body bytes ...
  std::uint64_t stderr_bytes = 0;      // ... N bytes of STDERR
  std::optional<std::int64_t> content_length_offset;  // Content-Length: body size + offset
  bool stdout_terminator = true;                      // false: the empty STDOUT is missing
  bool end_request = true;                            // false: END_REQUEST never sent
  std::uint32_t end_request_delay_ms = 0;             // between the empty STDOUT and END_REQUEST

  // Connection lifetime.
  KeepConnPolicy keep_conn = KeepConnPolicy::honour;
  bool linger = true;  // lingering close: drain unread input before closing
  /// Go net/http/fcgi < 1.16: an empty STDIN arriving after END_REQUEST is ignored and the
  /// connection stays open although FCGI_KEEP_CONN is clear.
  bool ignore_late_stdin_terminator = false;
  std::uint32_t receive_buffer = 0;  // SO_RCVBUF of the listener and accepted sockets; 0 keep

  /// Connections served at once; further ones wait in the listen backlog, unaccepted, as
  /// with a single-process app (php-cgi with PHP_FCGI_CHILDREN=0). 0: no limit.
  std::uint32_t workers = 0;

  // Process lifetime (PHP_FCGI_MAX_REQUESTS).
  std::uint32_t exit_after_requests = 0;  // 0: never exits
  bool keep_listener = false;             // exit keeps the listening socket (php-fpm master)
  std::optional<std::uint32_t> respawn_after_ms;  // serve again this long after exiting

  /// The run's event bus; every log entry is also published there, and `bus` faults and
  /// `until` subscribe to it. Not owned; may be null; must outlive the backend.
  events::Bus* bus = nullptr;
};

/// What the backend saw and did, in order, for expectations and the timeline.
struct BackendLogEntry {
  Clock::time_point at;
  std::uint32_t connection = 0;  // 1-based accept order
  std::uint16_t request_id = 0;  // 0 for connection-level entries
  std::string what;              // the event names of docs/faults-backend.md: "accepted",
                                 // "begin_request", "params_complete", "stdin_terminator_received",
  // "headers_sent", "end_request_sent", "fault:close", "peer_closed", ...
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
