// How the client reads a response head's first line, apart from the client's coroutines so the
// fuzz target (fuzz/http_response.cpp) drives the same code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace fh::client {

/// The status line of a response head before Beast's parser sees it (RFC 9112 §4:
/// status-line = HTTP-version SP status-code SP [reason-phrase]). A server MUST send the SP
/// before an absent reason, but "HTTP/1.1 200" without it is common (a CGI app's bare
/// `Status: 200` through nginx) and curl reads it: so does this client. When `head`'s first
/// line (complete, up to '\n') is such a line, inserts the SP and returns the deviation to note.
std::optional<std::string> repair_status_line(std::string& head);

/// The parser limits the client reads responses with (shared with fuzz/http_response.cpp).
inline constexpr std::uint32_t kHeaderLimit =
    1 << 20;  // generous: gateways under test may send big heads
/// After the head, the most bytes the client holds that the parser has not taken: a chunk-size
/// line with its extensions, or the trailers, must fit. Beast takes body bytes as they come,
/// but a chunk-size line that never ends (`1;a="` and no closing quote: Beast 1.81 parses the
/// extensions to the end of what it holds, again on every read) would otherwise be buffered
/// without bound, each read parsing it all again (found by fuzz/http_response.cpp: 24 KB fed 2
/// bytes at a time took 4 s under ASan). 64 KiB bounds that work to about 2^31 byte visits.
inline constexpr std::size_t kUnparsedLimit = 64 * 1024;

}  // namespace fh::client
