// Generic adapters: any gateway or backend program given as a command line (and optionally a
// config template) with placeholders, so a user puts their own implementation into a scenario
// without writing C++ (issue 4, "Any other program"). Also the non-blocking one-request probes
// every real peer's readiness uses: they never block the caller's io_context, which may run
// the fake on the other side (PeerOptions::pump).
#pragma once

#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/address.hpp"
#include "peers/peer.hpp"

namespace fh::peers {

/// One request over a non-blocking socket, advanced by step() without ever blocking.
class ProbeExchange {
 public:
  enum class State { connecting, sending, receiving, done, failed };
  /// `complete` says whether the bytes received so far are a whole answer (`closed`: the
  /// peer closed after them).
  ProbeExchange(net::Address address, std::string request,
                std::function<bool(const std::string&, bool closed)> complete);
  ~ProbeExchange();
  ProbeExchange(const ProbeExchange&) = delete;
  ProbeExchange& operator=(const ProbeExchange&) = delete;

  /// Does what can be done now; true once done or failed.
  bool step();
  State state() const { return state_; }
  const std::string& response() const { return response_; }
  const std::string& error() const { return error_; }

 private:
  void fail(std::string what);
  net::Address address_;
  std::string request_;
  std::function<bool(const std::string&, bool closed)> complete_;
  int fd_ = -1;
  std::size_t sent_ = 0;
  std::string response_;
  std::string error_;
  State state_ = State::connecting;
};

/// "GET target HTTP/1.1" with Connection: close.
std::string http_get_request(const net::Address& address, std::string_view target);
/// The status of a response's status line once it is complete ("HTTP/1.x NNN ...\r\n").
std::optional<int> http_status_of(const std::string& response);

/// Retries GET `target` until some HTTP status line arrives (any status: the peer answers
/// HTTP), `deadline` passes (nullopt) or `alive` returns false (nullopt). pump runs between
/// polls.
std::optional<int> wait_http_answer(const net::Address& address, std::string_view target,
                                    std::chrono::milliseconds deadline,
                                    const std::function<void()>& pump,
                                    const std::function<bool()>& alive);

/// Splits a command line like a POSIX shell would split words (single and double quotes,
/// backslash escapes; no expansions). Throws PeerError on an unterminated quote.
std::vector<std::string> split_command_line(std::string_view command);

/// SIGTERM for "TERM" or "SIGTERM" (also INT, QUIT, HUP, USR1, USR2, WINCH, KILL).
int signal_from_name(std::string_view name);

/// The keys of a `kind: command` peer (docs/scenario.md, "Any other program"): the one list
/// the loader, the schema and the generic adapters' knob check read. `command` is required;
/// `ready` is one of `ready_choices`, the first being the default.
struct CommandPeerKeys {
  std::vector<std::string> keys;
  std::vector<std::string> ready_choices;
};
const CommandPeerKeys& command_gateway_keys();
const CommandPeerKeys& command_backend_keys();

// The generic gateway. knobs:
//   command      (required) e.g. "python3 gw.py --listen {http_port} --backend {backend_addr}"
//   config       a template file rendered into {run_dir}/<its name without .in>, as {config}
//   ready_path   GET target polled until any HTTP answer (default "/")
//   stop_signal  graceful stop signal (default TERM); grace_ms (default 3000), then SIGKILL
//   user         run the program as this account (the harness must be root): its cwd, HOME
//                and {run_dir} are then {run_dir}/home-<user>, owned by it, and a generic
//                backend's unix socket is made there (the run folder itself is the harness's)
// Placeholders: {http_host} {http_port} {backend_addr} ("127.0.0.1:9000" or "unix:/path")
// {backend_host} {backend_port} {backend_path} {run_dir} {config}.
std::unique_ptr<Peer> make_generic_gateway(PeerOptions options);

// The generic backend. knobs:
//   command, config, stop_signal, grace_ms as above
//   ready        fcgi (default: one real FastCGI request gets END_REQUEST) or connect (the
//                listener accepts; for apps where a request counts, e.g. max-requests races)
// Placeholders: {addr} ("127.0.0.1:9000" or "unix:/path"), {host} {port} {path} {run_dir}
// {config}. A tcp listen port of 0 is picked at start; a unix listen without a path is
// {run_dir}/backend.sock.
std::unique_ptr<Peer> make_generic_backend(PeerOptions options);

/// A peer that is one started program: renders (prepare), starts it in its own process group,
/// waits until ready while pumping, stops it with its graceful signal, then kills the group.
/// The gateway adapters and the generic adapters are this with their own prepare/ready.
class CommandPeer : public Peer {
 public:
  ~CommandPeer() override;
  const PeerInfo& info() const override { return info_; }
  void start() override;
  void stop() override;
  net::Address address() const override { return address_; }
  Process* process() override { return process_.valid() ? &process_ : nullptr; }
  std::vector<std::filesystem::path> artefacts() const override;

 protected:
  struct Launch {
    ProcessSpec spec;
    int stop_signal = SIGTERM;
    std::chrono::milliseconds grace{3000};
    std::chrono::milliseconds ready_deadline{10000};
    std::vector<std::filesystem::path> artefacts;  // kept if they exist (logs appear later)
  };
  CommandPeer(PeerInfo info, PeerOptions options);
  /// Picks ports, sets address_, renders configs into run_dir; what to run and how to stop it.
  virtual Launch prepare() = 0;
  /// One readiness attempt machine: true once ready (wait_ready pumps and checks liveness).
  virtual bool wait_ready(std::chrono::milliseconds deadline, const std::function<bool()>& alive);

  PeerInfo info_;
  PeerOptions options_;
  net::Address address_;
  Process process_;
  Launch launch_;
};

/// PeerInfo of a generic peer: binary = the command's first word, installed if found.
PeerInfo generic_info(std::string_view kind, std::string_view command);

}  // namespace fh::peers
