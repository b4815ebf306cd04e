// The scripted HTTP/1.1 client in front of every topology. It records what a conformance
// verdict needs: status, headers, body length and SHA-256, whether the framing completed
// (Content-Length satisfied, final chunk seen, or closed early), and when bytes arrived.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "events/bus.hpp"
#include "language/trigger.hpp"
#include "net/address.hpp"

namespace fh::client {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// When a client action starts: the one trigger grammar (language/trigger.hpp). The client's
/// own events `connected`, `request_body_sent` and `response_head` (bare names) and its
/// counters {request_body_bytes: N} and {body_bytes: N} are points of the request's own
/// exchange; any other event is the nth one on the run's bus since the connection started.
using Trigger = language::Trigger;

/// Slow reader: from the anchor on, stop reading for pause_ms, then read at most `bytes`
/// every `every_ms` (bytes == 0: at full speed).
struct ReadFault {
  Trigger at;
  std::uint32_t pause_ms = 0;
  /// Ends the pause at this bus event instead (pause_ms, if given, still bounds it), so a
  /// scenario says "catch up once the gateway paused its backend read", not "after 300 ms".
  std::optional<events::Selector> until = std::nullopt;
  std::uint64_t bytes = 0;
  std::uint32_t every_ms = 0;
};

/// Abort mid-exchange: close (FIN; what is already readable is discarded first, since Linux
/// answers a close with unread data by RST) or reset (RST: SO_LINGER 0, RFC 9293 §3.10.7.1).
struct AbortFault {
  Trigger at;
  enum class How { close, reset } how = How::close;
};

/// Paced request body: from the anchor on, at most `bytes` every `every_ms`.
struct BodyPace {
  Trigger at;
  std::uint64_t bytes = 0;
  std::uint32_t every_ms = 0;
};

/// Stalled request body: the writer stops for stall_ms at the anchor, then goes on.
struct BodyStall {
  Trigger at;
  std::uint32_t stall_ms = 0;
};

/// The scenario's `client:` map of a request: faults and connection sharing.
struct ClientBehaviour {
  std::optional<std::uint64_t> rcvbuf;  // SO_RCVBUF before connect (Linux doubles it)
  /// TCP_MAXSEG before connect: the MSS this client announces (RFC 9293 §3.7.1). Linux sizes
  /// the sender's send buffer from the MSS, so with a small rcvbuf it is what makes a
  /// server's write to a slow reader block on loopback (64 KiB MSS: about 3 MB fit).
  std::optional<std::uint32_t> mss;
  std::optional<ReadFault> read;
  std::optional<AbortFault> abort;
  std::optional<BodyPace> body_pace;
  std::optional<BodyStall> body_stall;
  /// Requests with the same non-empty name share one keep-alive connection, in file order.
  std::string connection;
  /// On a shared connection: written right after the previous request (HTTP/1.1 pipelining,
  /// RFC 9112 §9.3.2) instead of after the previous response was read.
  bool pipeline = false;
};

struct RequestSpec {
  std::string method = "GET";
  std::string target = "/";
  Headers headers;                 // sent as given, after Host
  std::string body;                // request body bytes (empty: none)
  bool chunked = false;            // Transfer-Encoding: chunked instead of Content-Length
  std::size_t chunk_size = 16384;  // body chunk size when chunked
  bool send_body_headers_when_empty = false;  // "Content-Length: 0" for an empty body
  ClientBehaviour client;
};

enum class Outcome {
  pending,                 // still waiting (the deadline stopped it)
  complete,                // a full response: framing satisfied
  truncated,               // head received, body framing not satisfied when the connection ended
  closed_before_response,  // the connection ended (FIN or RST) before a complete response head
  connect_failed,          // could not connect
  protocol_error,          // the response was not valid HTTP/1.1
  aborted,                 // the client itself closed or reset the connection (client.abort)
};
std::string_view outcome_name(Outcome outcome);

enum class Framing { none, content_length, chunked, until_close };
std::string_view framing_name(Framing framing);

struct Exchange {
  Outcome outcome = Outcome::pending;
  int status = 0;
  Headers headers;
  Framing framing = Framing::none;
  std::optional<std::uint64_t> content_length;
  std::uint64_t body_bytes = 0;
  std::string body_sha256;        // hex, of the body bytes received (also when truncated)
  std::string body_prefix;        // the first 64 KiB of the body, for contains-checks and messages
  bool connection_reset = false;  // the connection ended with ECONNRESET
  std::string error;              // what ended it, when not complete
  std::string awaiting;           // what it was waiting for (meaningful while pending)
  std::optional<double> connect_ms;  // from the start of exchange() until connected
  // Milliseconds since the request started to be sent (after the connect).
  std::optional<double> first_byte_ms;       // first response byte
  std::optional<double> first_body_byte_ms;  // first body byte
  std::optional<double> last_byte_ms;        // last byte (end of framing or connection end)
  std::uint64_t request_body_sent = 0;
  std::optional<double> aborted_ms;  // when the client aborted (client.abort)
  /// What the response did that RFC 9112 does not allow but the client accepts (as curl
  /// does), each quoting the offending line: "status line without the space ...".
  std::vector<std::string> deviations;

  std::string summary() const;  // "200 complete chunked body=1024B sha=ab12.. ttfb=3.1ms"
};

/// Connects, sends `spec`, reads the response. `progress` is updated as bytes arrive, so a
/// caller that gives up (deadline) can still say what was received and what was awaited.
/// Never throws for network errors: they become the outcome.
/// With a bus, it publishes "client" events numbered `connection` (docs/faults-client.md).
boost::asio::awaitable<void> exchange(net::Address gateway, RequestSpec spec, Exchange& progress,
                                      events::Bus* bus = nullptr, std::uint32_t connection = 0);

/// One request of a shared keep-alive connection. `number` numbers its bus events (the
/// runner's request number, 1-based); `progress` must outlive the exchange.
struct ConnectionRequest {
  RequestSpec spec;
  Exchange* progress = nullptr;
  std::uint32_t number = 0;
};

/// Several requests on one keep-alive connection, in order (RFC 9112 §9.3). A request is
/// written once the previous response was read, or right after the previous request when its
/// spec says client.pipeline. Responses are read in order, each into its own Exchange. The
/// last request asks for "Connection: close"; the others for nothing (keep-alive).
/// Connection-level settings (client.rcvbuf) come from the first request that sets them.
boost::asio::awaitable<void> exchange_connection(net::Address gateway,
                                                 std::vector<ConnectionRequest> requests,
                                                 events::Bus* bus = nullptr);

/// Groups request indices by their client.connection names (one entry per request): each group
/// is one connection, ordered by its first request; an empty name gets a connection of its own.
std::vector<std::vector<std::size_t>> connection_groups(const std::vector<std::string>& names);

}  // namespace fh::client
