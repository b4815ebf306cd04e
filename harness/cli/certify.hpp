// `fcgi-harness certify backend|gateway`: the certification catalogue (scenarios/certify/,
// one check per file, keyed to the FastCGI 1.0 / RFC 3875 / RFC 9112 section it rests on, or
// to the field bug it comes from) run against one implementation: a backend spawned from a
// command line or already running, a gateway from an adapter or a command line. The fakes
// play the other party, as the harness's instruments; a check judges only what the harness
// sees of the implementation under test (the loader refuses a check on the fake's own events
// when that fake is the one replaced).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace fh::cli {

struct CertifyOptions {
  std::string party;  // "backend" or "gateway"
  // backend
  std::string spawn;    // a command line with {addr} (backend) / {http_port} {backend_addr}
  std::string connect;  // tcp:HOST:PORT | HOST:PORT | unix:PATH: already running
  std::string transport = "tcp";      // tcp | unix | both: where the backend listens
  std::string personality = "plain";  // the fake gateway's: plain|nginx|...|all
  // gateway
  std::string adapter;             // a real gateway's kind (list --peers)
  std::vector<std::string> knobs;  // K=V for the adapter
  std::string config;              // a config template for --spawn
  std::string ready_path;          // the gateway's readiness path for --spawn
  // the run
  std::vector<std::string> cases, exclude;  // globs over the check ids
  bool strict = false;                      // NON-STRICT fails too
  int repeat = 1;
  std::string json, junit, markdown, html, artifacts = "fcgi-harness-artifacts", keep = "failures";
  std::string label;  // the implementation's name in reports (default: adapter and version, ...)
  std::string quirks, baseline;  // acceptance: allowed quirks (YAML), a committed results file
  std::string catalogue;         // the catalogue's folder (default: the built-in one)
  bool verbose = false;
  /// The harness, and so the implementation it starts, in a network namespace holding only
  /// loopback (net/isolation.hpp); with it, a --spawn command runs as `nobody` unless `user`.
  bool isolate = false;
  std::string user;  // the account a --spawn command runs as (the harness must be root)
};

/// Runs the certification; prints one line per check and a summary by level. Exit status:
/// 0 every check PASS or INFORMATIONAL (and NON-STRICT unless --strict), 1 otherwise, 2 usage.
int certify(const CertifyOptions& options, std::ostream& out, std::ostream& err);

/// `certify --list`: every check (or one party's): id, level, title, requirement; as a
/// Markdown table with `markdown` (the README's catalogue section is this output).
int list_catalogue(const std::string& party, const std::string& catalogue, bool markdown,
                   std::ostream& out, std::ostream& err);

/// The built-in catalogue's folder.
std::string default_catalogue();

}  // namespace fh::cli
