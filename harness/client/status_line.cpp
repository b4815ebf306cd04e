#include "client/status_line.hpp"

#include <regex>

namespace fh::client {

std::optional<std::string> repair_status_line(std::string& head) {
  const auto eol = head.find('\n');
  if (eol == std::string::npos) return std::nullopt;
  const std::size_t end = eol > 0 && head[eol - 1] == '\r' ? eol - 1 : eol;
  const std::string line = head.substr(0, end);
  static const std::regex kNoReason("HTTP/1\\.[01] [0-9]{3}");
  if (!std::regex_match(line, kNoReason)) return std::nullopt;
  head.insert(end, " ");
  return "status line without the space after the status code (RFC 9112 §4: a server MUST "
         "send it): \"" +
         line + "\"";
}

}  // namespace fh::client
