#include "fake-gateways/cgi.hpp"

#include <strings.h>
#include <algorithm>
#include <cctype>
#include <charconv>

namespace fh::fake::cgi {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

std::string http_variable_name(std::string_view field_name) {
  std::string name = "HTTP_";
  for (char c : field_name)
    name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

fcgi::NameValues build_params(const RequestInfo& request) {
  const std::string_view target = request.target;
  const auto question = target.find('?');
  const std::string path(target.substr(0, question));
  const std::string query(question == std::string_view::npos ? std::string_view()
                                                             : target.substr(question + 1));
  fcgi::NameValues params = {
      {"GATEWAY_INTERFACE", "CGI/1.1"},  // §4.1.4
      {"SERVER_SOFTWARE", "fcgi-harness-fake-gateway"},
      {"SERVER_NAME", request.server_name},
      {"SERVER_PORT", request.server_port},
      {"SERVER_ADDR", request.server_addr},
      {"SERVER_PROTOCOL", request.protocol},
      {"REQUEST_METHOD", request.method},
      {"REQUEST_URI", request.target},  // not in RFC 3875, but every PHP-style app reads it
      {"SCRIPT_NAME", path},            // §4.1.13: the whole path names the script
      {"SCRIPT_FILENAME", request.document_root + path},
      {"DOCUMENT_ROOT", request.document_root},
      {"PATH_INFO", ""},        // §4.1.5: no extra path beyond the script
      {"QUERY_STRING", query},  // §4.1.7: "" rather than unset when there is no query
      {"REMOTE_ADDR", request.remote_addr},
      {"REMOTE_PORT", request.remote_port},
  };
  // §4.1.2/§4.1.3: the body's length and type travel as CONTENT_*, never as HTTP_*.
  std::optional<std::string> content_type;
  std::vector<std::pair<std::string, std::string>> http_vars;
  for (const auto& [name, value] : request.headers) {
    if (iequals(name, "Content-Length")) continue;
    if (iequals(name, "Content-Type")) {
      content_type = value;
      continue;
    }
    // §4.1.18: repeated fields become one variable with the values joined.
    std::string var = http_variable_name(name);
    auto same = std::find_if(http_vars.begin(), http_vars.end(),
                             [&](const auto& existing) { return existing.first == var; });
    if (same == http_vars.end()) {
      http_vars.emplace_back(std::move(var), value);
    } else {
      same->second += iequals(name, "Cookie") ? "; " : ", ";
      same->second += value;
    }
  }
  if (request.content_length)
    params.emplace_back("CONTENT_LENGTH", std::to_string(*request.content_length));
  if (content_type) params.emplace_back("CONTENT_TYPE", *content_type);
  for (auto& var : http_vars) params.push_back(std::move(var));
  return params;
}

bool ResponseHeadParser::parse_line(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    error_ = "malformed CGI header line: \"" + std::string(line.substr(0, 80)) + "\"";
    return false;
  }
  const std::string_view name = trim(line.substr(0, colon));
  const std::string_view value = trim(line.substr(colon + 1));
  if (iequals(name, "Status")) {
    // §6.3.3: Status = "Status:" status-code SP reason-phrase
    int code = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), code);
    if (ec != std::errc{} || end - value.data() != 3 || code < 100) {
      error_ = "malformed CGI Status: \"" + std::string(value.substr(0, 80)) + "\"";
      return false;
    }
    head_.status = code;
    head_.reason = std::string(trim(value.substr(3)));
    status_seen_ = true;
    return true;
  }
  if (iequals(name, "Location")) location_seen_ = true;
  if (iequals(name, "Content-Length")) {
    std::uint64_t length = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (ec != std::errc{} || end != value.data() + value.size() || value.empty()) {
      error_ = "malformed CGI Content-Length: \"" + std::string(value.substr(0, 80)) + "\"";
      return false;
    }
    head_.content_length = length;
  }
  head_.headers.emplace_back(std::string(name), std::string(value));
  return true;
}

ResponseHeadParser::Result ResponseHeadParser::feed(std::string_view bytes, std::string& body) {
  if (!error_.empty()) return Result::error;
  fed_ += bytes.size();
  pending_.append(bytes);
  std::size_t start = 0;
  for (;;) {
    const auto newline = pending_.find('\n', start);
    if (newline == std::string::npos) break;
    std::string_view line(pending_.data() + start, newline - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = newline + 1;
    if (line.empty()) {
      // §6.2.3: a Location header without Status is a client redirect.
      if (location_seen_ && !status_seen_) head_.status = 302;
      body = pending_.substr(start);
      pending_.clear();
      return Result::done;
    }
    if (!parse_line(line)) return Result::error;
  }
  pending_.erase(0, start);
  if (fed_ > kMaxResponseHead) {
    error_ = "CGI response head longer than " + std::to_string(kMaxResponseHead) + " bytes";
    return Result::error;
  }
  return Result::need_more;
}

}  // namespace fh::fake::cgi
