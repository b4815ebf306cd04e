// The response's end: the empty STDOUT, END_REQUEST and Content-Length (content_length,
// stdout_terminator, end_request, end_request_delay_ms). faults/response_end.cpp reads the
// keys and runs the end of every response (responder.cpp calls finish_response()).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "events/declaration.hpp"

namespace fh::fake {

struct ResponseEnd {
  std::optional<std::int64_t> content_length_offset;  // Content-Length: body size + offset
  bool stdout_terminator = true;                      // false: the empty STDOUT is missing
  bool end_request = true;                            // false: END_REQUEST never sent
  std::uint32_t end_request_delay_ms = 0;             // between the empty STDOUT and END_REQUEST

  /// The CGI head with a Content-Length that may lie (RFC 9112 §6.3), when asked for.
  std::string head_for(std::string head, std::uint64_t body_size) const;
};

}  // namespace fh::fake

namespace fh::fake::response_end_events {
using events::EventDecl;
using events::Source;
inline constexpr EventDecl stdout_terminator_withheld{
    "backend",
    "stdout_terminator_withheld",
    Source::fake_backend,
    "stdout_terminator: false: the empty STDOUT was left out",
    "",
    ""};
inline constexpr EventDecl end_request_withheld{"backend",
                                                "end_request_withheld",
                                                Source::fake_backend,
                                                "end_request: never: END_REQUEST was not sent",
                                                "",
                                                ""};
inline constexpr EventDecl end_request_delayed{
    "backend",
    "end_request_delayed",
    Source::fake_backend,
    "end_request_delay_ms: END_REQUEST waits after the empty STDOUT",
    "",
    "the delay"};
}  // namespace fh::fake::response_end_events
