// A real peer (gateway or backend program) as the runner sees it: rendered config, started in
// its own process group, ready when a real request succeeded, stopped and reaped.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "net/address.hpp"
#include "peers/process.hpp"

namespace fh::peers {

struct PeerInfo {
  std::string kind;         // "php-fpm", "nginx", ...
  std::string binary;       // resolved path, or the name looked for
  std::string version;      // "8.2.36"; empty when not installed
  std::string apt_package;  // Debian 12 package that provides the binary
  bool installed = false;
  std::string missing_reason;  // "php-fpm8.2 not found in PATH: apt-get install php8.2-fpm"
};

struct PeerOptions {
  std::filesystem::path run_dir;             // fresh per run (mkdtemp): configs, logs, sockets
  net::Address listen;                       // where this peer listens (tcp 127.0.0.1:pick_port()
                                             // or a unix path in run_dir)
  net::Address upstream;                     // gateways: the FastCGI backend's address
  std::map<std::string, std::string> knobs;  // {"pm.max_requests","5"}, ...
  std::function<void()> pump;                // called while waiting (runs the run's io_context)
};

class PeerError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

/// The program listens, but answered its readiness request wrongly (not FastCGI, no
/// END_REQUEST, no HTTP status line): a definite answer, reported at once rather than after
/// the readiness deadline. When the program is the implementation under test, this is its
/// FAIL, not a harness ERROR.
class NotReady : public PeerError {
 public:
  using PeerError::PeerError;
};

class Peer {
 public:
  virtual ~Peer() = default;  // implementations stop and reap
  virtual const PeerInfo& info() const = 0;
  /// Renders the config, starts, returns when ready (a real request succeeded). Throws
  /// PeerError with the log tail.
  virtual void start() = 0;
  /// Graceful, then kills the group; idempotent.
  virtual void stop() = 0;
  virtual net::Address address() const = 0;
  /// For SIGSTOP/SIGCONT/SIGKILL faults; nullptr before start().
  virtual Process* process() = 0;
  /// Configs and logs, for the run's artefacts.
  virtual std::vector<std::filesystem::path> artefacts() const = 0;
};

/// Replaces every `{name}` (name: letters, digits, '_', '.', '-') in `text` by vars.at(name).
/// An unknown name is a PeerError naming it. Other braces are literal (nginx blocks:
/// `events { ... }`); `{{` is a literal `{`, for text like Caddy's `{{http.request.uri}`.
std::string render(std::string_view text, const std::map<std::string, std::string>& vars);

/// render() of a template file written to `out`; returns `out`.
std::filesystem::path render_file(const std::filesystem::path& template_file,
                                  const std::filesystem::path& out,
                                  const std::map<std::string, std::string>& vars);

/// Checks `knobs` against the names a peer accepts: an unknown knob is a PeerError naming
/// the valid ones.
void check_knobs(std::string_view kind, const std::map<std::string, std::string>& knobs,
                 const std::vector<std::string>& valid);

/// The output of `argv` (stdout+stderr, first 4 KiB), run to completion with a 5 s bound; ""
/// when it cannot run. For version detection.
std::string capture_output(const std::vector<std::string>& argv);

}  // namespace fh::peers
