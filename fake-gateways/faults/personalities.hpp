// Personalities: whose write patterns and parameter conventions the fake gateway copies
// (nginx, Apache mod_proxy_fcgi, lighttpd, haproxy, caddy). faults/personalities.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "codec/fcgi.hpp"

namespace fh::fake {

enum class Personality { plain, nginx, apache, lighttpd, haproxy, caddy };
std::string_view personality_name(Personality personality);
std::optional<Personality> parse_personality(std::string_view name);

/// What a personality copies from the real gateway (docs/faults-gateway.md has the sources).
struct Traits {
  bool buffer_request_body = false;     // whole body read before connecting (request buffering)
  bool align8 = false;                  // records padded to a multiple of 8 (§3.3 recommends it)
  bool begin_separate = false;          // BEGIN_REQUEST in its own write
  bool record_per_write = false;        // every record its own write
  std::size_t whole_request_limit = 0;  // whole request in one write up to this size
  bool terminator_with_last_data = false;  // the empty STDIN in the write of the last data
  std::size_t stdin_record_size = fcgi::kMaxContentLength;
  bool read_after_request_sent = false;  // reads the response only once the request is out
  std::uint16_t request_id_step = 0;     // next request id on a kept connection (0: always 1)
  /// A client connection's first request never takes a pooled backend connection, which the
  /// backend may be closing: haproxy's `http-reuse safe`, its default.
  bool reuse_only_after_first_request = false;
  const char* server_software = "fcgi-harness-fake-gateway";
};

Traits traits_of(Personality personality);
/// Parameter conventions on top of the RFC 3875 set (fastcgi_params, mod_proxy_fcgi, ...).
void apply_personality_params(Personality personality, const Traits& traits,
                              fcgi::NameValues& params);

}  // namespace fh::fake
