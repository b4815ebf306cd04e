// Real FastCGI backends (php-fpm, php-cgi under spawn-fcgi, uWSGI, fcgiwrap, Go net/http/fcgi,
// a libfcgi C app, Perl FCGI), each serving the probe-app contract from harness/peers/apps/,
// and a small blocking FastCGI client for readiness checks and tests.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "codec/fcgi.hpp"
#include "peers/peer.hpp"

namespace fh::peers {

/// A real backend. The probe script lives at document_root()/probe: gateways send
/// SCRIPT_FILENAME = document_root + SCRIPT_NAME for the path /probe (php-fpm, php-cgi and
/// fcgiwrap need the file; the others ignore it).
class Backend : public Peer {
 public:
  virtual std::filesystem::path document_root() const = 0;
};

/// Kinds: "php-fpm", "php-cgi", "uwsgi", "fcgiwrap", "go", "libfcgi", "perl".
std::vector<std::string> backend_kinds();

/// What is installed, with versions (dpkg) and the apt package for anything missing.
std::vector<PeerInfo> backend_catalogue();
PeerInfo backend_info(std::string_view kind);

/// The adapter for `kind` (PeerError naming the kinds for an unknown one; PeerError naming the
/// valid knobs for an unknown knob). Nothing starts before start().
/// Knobs: php-fpm pm.max_requests (default 0 = never), pm.max_children (2);
/// php-cgi PHP_FCGI_MAX_REQUESTS, PHP_FCGI_CHILDREN (0); uwsgi max-requests, processes (2).
/// The knob names `kind` accepts (empty for an unknown kind).
std::vector<std::string> backend_knobs(std::string_view kind);
/// What is wrong with `value` for the known knob `name` of `kind`, or "" when it is fine.
std::string backend_knob_problem(std::string_view kind, const std::string& name,
                                 const std::string& value);
std::unique_ptr<Backend> make_backend(std::string_view kind, PeerOptions options);

// ---------------------------------------------------------------- blocking FastCGI client

struct FcgiRequest {
  std::string method = "GET";
  std::string path = "/probe";  // SCRIPT_NAME; REQUEST_URI = path?query
  std::string query;
  std::string body;
  std::string document_root;  // SCRIPT_FILENAME = document_root + path
  fcgi::NameValues extra_params;
};

struct FcgiResponse {
  bool ended = false;  // END_REQUEST received
  std::string error;   // connect failure, timeout, protocol error, early close
  std::string stdout_data, stderr_data;
  std::uint32_t app_status = 0;
  std::uint8_t protocol_status = 0;
  std::size_t stdout_records = 0;
  std::size_t bytes_received = 0;  // anything at all: the backend answered, rightly or not
  // Parsed from stdout_data (CGI response, RFC 3875 §6.3):
  int status = 0;  // the Status: header, 200 without one
  std::string headers;
  std::string body;
};

/// What was wrong with an answer that came but did not end well: "no END_REQUEST after 493
/// bytes (2 STDOUT records)" (readiness failures say it so a FAIL names what was sent).
std::string wrong_answer(const FcgiResponse& r);

/// CGI/1.1 params for `request` as a gateway would send them (RFC 3875 §4.1).
fcgi::NameValues cgi_params(const FcgiRequest& request);

/// One RESPONDER request (id 1, no KEEP_CONN) on a new connection; writes and reads together so
/// a backend that answers before reading the body cannot deadlock it. Calls `pump` (may be
/// empty) every few ms.
FcgiResponse fcgi_exchange(const net::Address& address, const FcgiRequest& request,
                           std::chrono::milliseconds timeout,
                           const std::function<void()>& pump = {});

}  // namespace fh::peers
