// The probe-app contract: what every backend application used by scenarios serves,
// driven by the query string. Pure functions so the fake backend, the runner's
// expectations and later real probe apps agree byte for byte.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "codec/fcgi.hpp"

namespace fh::probe {

/// What the query string asks for. Absent keys keep the defaults.
struct ProbeQuery {
  int status = 200;                   // status=NNN (100..999), sent as a CGI Status: header
  std::optional<std::uint64_t> size;  // size=N: N bytes of the pattern; body not read
  std::uint64_t chunk = 0;            // chunk=K: write the body in K-byte pieces (0: one piece)
  std::uint64_t delay_ms = 0;         // delay_ms=D: sleep between pieces
  std::uint64_t first_byte_ms = 0;    // first_byte_ms=F: sleep before writing anything
  bool echo = false;                  // echo=1: the body is the request body
  std::uint64_t stderr_bytes = 0;     // stderr=N: N bytes to FCGI_STDERR before the body

  /// Neither size nor echo: the body lists the CGI parameters and the stdin digest.
  bool lists_params() const { return !size && !echo; }
  /// The app reads the request body before answering (echo and the default mode).
  bool reads_body() const { return !size; }
};

/// Parses a QUERY_STRING. Keys outside the contract are ignored (apps get other params
/// too); a contract key with a bad value is an error naming it.
std::variant<ProbeQuery, std::string> parse_query(std::string_view query_string);

/// Builds a query string ("size=1024&chunk=64") from a query; defaults are left out.
std::string to_query_string(const ProbeQuery& query);

inline constexpr std::string_view kPattern = "0123456789abcdef";
/// `length` bytes of the pattern starting at body offset `offset`.
std::string pattern(std::uint64_t offset, std::size_t length);
/// SHA-256 hex of the first `size` pattern bytes (what a size=N body must hash to).
std::string pattern_sha256(std::uint64_t size);

/// The CGI response head: "Status: NNN <reason>\r\nContent-Type: application/octet-stream\r\n\r\n".
std::string response_head(int status);

/// Default-mode body: "NAME=VALUE\n" per parameter sorted by name (stable for duplicates),
/// then "STDIN-BYTES=<n>\n" and "STDIN-SHA256=<hex>\n".
std::string params_listing(const fcgi::NameValues& params, std::uint64_t stdin_bytes,
                           std::string_view stdin_sha256_hex);

/// Reason phrase for common statuses ("OK", "Not Found"...), "Unknown" otherwise.
std::string_view reason_phrase(int status);

}  // namespace fh::probe
