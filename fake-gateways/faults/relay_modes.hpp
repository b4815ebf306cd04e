// Response relay modes: how the gateway passes the backend's response to the client
// (lighttpd's stream_response_body, nginx's wait for the backend's close).
// faults/relay_modes.cpp.
#pragma once

#include <cstdint>
#include <optional>

namespace fh::fake {

struct RelayMode {
  /// lighttpd's server.stream-response-body: 0 buffer all, 1 stream (unbounded buffer),
  /// 2 stream with minimal buffering. Unset: relay each read before the next (no buffer).
  std::optional<std::uint32_t> stream_response_body;
  /// nginx without keep-conn: the client response ends only when the backend closes.
  bool wait_for_backend_close = false;

  bool streaming() const { return stream_response_body == 1u || stream_response_body == 2u; }
  bool buffers_all() const { return stream_response_body == 0u; }
  bool minimal_buffering() const { return stream_response_body == 2u; }
};

}  // namespace fh::fake
