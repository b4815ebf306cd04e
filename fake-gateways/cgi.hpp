// The CGI/1.1 halves of the fake gateway (RFC 3875), kept free of I/O: building the request
// meta-variables sent as FastCGI PARAMS, and parsing the CGI response head that arrives on
// FCGI_STDOUT.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "codec/fcgi.hpp"

namespace fh::fake::cgi {

/// What the gateway knows about one HTTP request when it builds the meta-variables.
struct RequestInfo {
  std::string method;
  std::string target;    // request-target as received ("/path?query")
  std::string protocol;  // "HTTP/1.1"
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::optional<std::uint64_t> content_length;  // the body length, when there is a body
  std::string server_name;
  std::string server_addr;
  std::string server_port;
  std::string remote_addr;
  std::string remote_port;
  std::string document_root;
};

/// RFC 3875 §4.1 meta-variables, in a fixed order, then one HTTP_* per header field name.
fcgi::NameValues build_params(const RequestInfo& request);

/// "X-Foo-Bar" -> "HTTP_X_FOO_BAR" (RFC 3875 §4.1.18).
std::string http_variable_name(std::string_view field_name);

/// The CGI response head (RFC 3875 §6.2-6.3), mapped to HTTP.
struct ResponseHead {
  int status = 200;
  std::string reason;  // from "Status: NNN reason"; empty when the app gave none
  std::vector<std::pair<std::string, std::string>> headers;  // without Status
  std::optional<std::uint64_t> content_length;               // the app's Content-Length, if any
};

/// Accumulates STDOUT bytes until the empty line that ends the head (LF or CRLF line ends,
/// RFC 3875 §6.2).
class ResponseHeadParser {
 public:
  enum class Result { need_more, done, error };

  /// After `done`, `body` holds the bytes that followed the head in what was fed.
  Result feed(std::string_view bytes, std::string& body);

  const ResponseHead& head() const { return head_; }
  const std::string& error() const { return error_; }
  std::size_t buffered() const { return pending_.size(); }

 private:
  bool parse_line(std::string_view line);

  std::string pending_;
  std::size_t fed_ = 0;
  ResponseHead head_;
  bool status_seen_ = false;
  bool location_seen_ = false;
  std::string error_;
};

inline constexpr std::size_t kMaxResponseHead = 64 * 1024;

}  // namespace fh::fake::cgi
