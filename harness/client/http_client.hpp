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
#include "net/address.hpp"

namespace fh::client {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct RequestSpec {
  std::string method = "GET";
  std::string target = "/";
  Headers headers;                 // sent as given, after Host
  std::string body;                // request body bytes (empty: none)
  bool chunked = false;            // Transfer-Encoding: chunked instead of Content-Length
  std::size_t chunk_size = 16384;  // body chunk size when chunked
  bool send_body_headers_when_empty = false;  // "Content-Length: 0" for an empty body
};

enum class Outcome {
  pending,                 // still waiting (the deadline stopped it)
  complete,                // a full response: framing satisfied
  truncated,               // head received, body framing not satisfied when the connection ended
  closed_before_response,  // the connection ended (FIN or RST) before a complete response head
  connect_failed,          // could not connect
  protocol_error,          // the response was not valid HTTP/1.1
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

  std::string summary() const;  // "200 complete chunked body=1024B sha=ab12.. ttfb=3.1ms"
};

/// Connects, sends `spec`, reads the response. `progress` is updated as bytes arrive, so a
/// caller that gives up (deadline) can still say what was received and what was awaited.
/// Never throws for network errors: they become the outcome.
/// With a bus, it publishes "client" events numbered `connection`: connected, response_head
/// (value: status), then response_<outcome> or exchange_stopped (value: body bytes).
boost::asio::awaitable<void> exchange(net::Address gateway, RequestSpec spec, Exchange& progress,
                                      events::Bus* bus = nullptr, std::uint32_t connection = 0);

}  // namespace fh::client
