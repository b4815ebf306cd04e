#include "probe/probe_contract.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

#include "util/sha256.hpp"

namespace fh::probe {
namespace {

// Whole-string unsigned decimal: no sign, no spaces, no trailing bytes.
std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::string bad_value(std::string_view key, std::string_view value, std::string_view expected) {
  return "bad value for query key '" + std::string(key) + "': '" + std::string(value) +
         "' (expected " + std::string(expected) + ")";
}

}  // namespace

std::variant<ProbeQuery, std::string> parse_query(std::string_view query_string) {
  ProbeQuery q;
  while (!query_string.empty()) {
    const std::size_t amp = query_string.find('&');
    const std::string_view item = query_string.substr(0, amp);
    query_string =
        amp == std::string_view::npos ? std::string_view{} : query_string.substr(amp + 1);
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    const auto number = parse_u64(value);

    if (key == "status") {
      if (!number || *number < 100 || *number > 999)
        return bad_value(key, value, "an integer 100..999");
      q.status = static_cast<int>(*number);
    } else if (key == "size") {
      if (!number) return bad_value(key, value, "an unsigned integer");
      q.size = *number;
    } else if (key == "chunk") {
      if (!number || *number < 1) return bad_value(key, value, "an integer >= 1");
      q.chunk = *number;
    } else if (key == "delay_ms") {
      if (!number) return bad_value(key, value, "an unsigned integer");
      q.delay_ms = *number;
    } else if (key == "first_byte_ms") {
      if (!number) return bad_value(key, value, "an unsigned integer");
      q.first_byte_ms = *number;
    } else if (key == "echo") {
      if (value != "0" && value != "1") return bad_value(key, value, "0 or 1");
      q.echo = value == "1";
    } else if (key == "stderr") {
      if (!number) return bad_value(key, value, "an unsigned integer");
      q.stderr_bytes = *number;
    }  // other keys belong to the application, not the contract
  }
  return q;
}

std::string to_query_string(const ProbeQuery& query) {
  std::string out;
  auto add = [&out](std::string_view key, const std::string& value) {
    if (!out.empty()) out += '&';
    out.append(key).append("=").append(value);
  };
  const ProbeQuery defaults;
  if (query.status != defaults.status) add("status", std::to_string(query.status));
  if (query.size) add("size", std::to_string(*query.size));
  if (query.chunk != defaults.chunk) add("chunk", std::to_string(query.chunk));
  if (query.delay_ms != defaults.delay_ms) add("delay_ms", std::to_string(query.delay_ms));
  if (query.first_byte_ms != defaults.first_byte_ms)
    add("first_byte_ms", std::to_string(query.first_byte_ms));
  if (query.echo) add("echo", "1");
  if (query.stderr_bytes != defaults.stderr_bytes)
    add("stderr", std::to_string(query.stderr_bytes));
  return out;
}

std::string pattern(std::uint64_t offset, std::size_t length) {
  std::string out;
  out.reserve(length);
  std::size_t phase = static_cast<std::size_t>(offset % kPattern.size());
  while (out.size() < length) {
    const std::size_t n = std::min(kPattern.size() - phase, length - out.size());
    out.append(kPattern.substr(phase, n));
    phase = 0;
  }
  return out;
}

std::string pattern_sha256(std::uint64_t size) {
  // 64 KiB is a multiple of the 16-byte pattern, so one block serves every full piece.
  static const std::string block = pattern(0, 64 * 1024);
  util::Sha256 hash;
  for (std::uint64_t done = 0; done < size;) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), size - done));
    hash.update(std::string_view(block).substr(0, n));
    done += n;
  }
  return hash.hex_digest();
}

std::string response_head(int status) {
  return "Status: " + std::to_string(status) + " " + std::string(reason_phrase(status)) +
         "\r\nContent-Type: application/octet-stream\r\n\r\n";
}

std::string params_listing(const fcgi::NameValues& params, std::uint64_t stdin_bytes,
                           std::string_view stdin_sha256_hex) {
  std::vector<const std::pair<std::string, std::string>*> sorted;
  sorted.reserve(params.size());
  for (const auto& p : params) sorted.push_back(&p);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return a->first < b->first; });
  std::string out;
  for (const auto* p : sorted) out.append(p->first).append("=").append(p->second).append("\n");
  out += "STDIN-BYTES=" + std::to_string(stdin_bytes) + "\n";
  out.append("STDIN-SHA256=").append(stdin_sha256_hex).append("\n");
  return out;
}

std::string_view reason_phrase(int status) {
  switch (status) {  // RFC 9110 §15
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace fh::probe
