#include "peers/generic.hpp"

#include "peers/backends.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "codec/fcgi.hpp"

namespace fh::peers {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---------------------------------------------------------------- ProbeExchange

ProbeExchange::ProbeExchange(net::Address address, std::string request,
                             std::function<bool(const std::string&, bool closed)> complete)
    : address_(std::move(address)), request_(std::move(request)), complete_(std::move(complete)) {
  const auto endpoint = address_.endpoint();
  fd_ = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    fail(std::string("socket: ") + std::strerror(errno));
  } else if (::connect(fd_, endpoint.data(), endpoint.size()) == 0) {
    state_ = State::sending;
  } else if (errno != EINPROGRESS && errno != EAGAIN) {
    fail(std::string("connect: ") + std::strerror(errno));
  }
}

ProbeExchange::~ProbeExchange() {
  if (fd_ >= 0) ::close(fd_);
}

void ProbeExchange::fail(std::string what) {
  state_ = State::failed;
  error_ = std::move(what);
}

bool ProbeExchange::step() {
  if (state_ == State::connecting) {
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      fail(std::string("connect: ") + std::strerror(err));
      return true;
    }
    state_ = State::sending;
  }
  if (state_ == State::sending) {
    while (sent_ < request_.size()) {
      const auto n = ::send(fd_, request_.data() + sent_, request_.size() - sent_, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
      if (n < 0) {
        fail(std::string("send: ") + std::strerror(errno));
        return true;
      }
      sent_ += static_cast<std::size_t>(n);
    }
    state_ = State::receiving;
  }
  if (state_ == State::receiving) {
    char buffer[16384];
    for (;;) {
      const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
      if (n < 0) {
        fail(std::string("recv: ") + std::strerror(errno));
        return true;
      }
      response_.append(buffer, static_cast<std::size_t>(n));
      if (complete_(response_, n == 0)) {
        state_ = State::done;
        return true;
      }
      if (n == 0) {
        fail("closed after " + std::to_string(response_.size()) + " bytes");
        return true;
      }
    }
  }
  return true;
}

std::string http_get_request(const net::Address& address, std::string_view target) {
  const std::string host = address.is_tcp() ? address.to_string() : "localhost";
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: " + host +
         "\r\nConnection: close\r\n\r\n";
}

std::optional<int> http_status_of(const std::string& response) {
  const auto eol = response.find("\r\n");
  if (eol == std::string::npos || response.rfind("HTTP/1.", 0) != 0) return std::nullopt;
  const auto space = response.find(' ');
  if (space == std::string::npos || space + 4 > eol) return std::nullopt;
  return std::atoi(response.c_str() + space + 1);
}

std::optional<int> wait_http_answer(const net::Address& address, std::string_view target,
                                    std::chrono::milliseconds deadline,
                                    const std::function<void()>& pump,
                                    const std::function<bool()>& alive) {
  const std::string request = http_get_request(address, target);
  std::unique_ptr<ProbeExchange> attempt;
  std::optional<int> status;
  bool gave_up = false;
  wait_until(
      [&] {
        if (alive && !alive()) return gave_up = true;
        if (!attempt) {
          // The whole answer, up to the server's close (the request says Connection: close):
          // leaving earlier would reset a connection the gateway is still writing, and the
          // gateway's relay of the readiness request would run into the scenario.
          attempt = std::make_unique<ProbeExchange>(
              address, request, [](const std::string& r, bool closed) {
                return closed && http_status_of(r).has_value();
              });
        }
        if (!attempt->step()) return false;
        if (attempt->state() == ProbeExchange::State::done) {
          status = http_status_of(attempt->response());
          return true;
        }
        attempt.reset();  // refused or closed: the next poll tries again
        return false;
      },
      deadline, pump);
  return gave_up ? std::nullopt : status;
}

// ---------------------------------------------------------------- command lines

std::vector<std::string> split_command_line(std::string_view command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (quote == '\'') {
      if (c == '\'')
        quote = 0;
      else
        word += c;
    } else if (quote == '"') {
      if (c == '"') {
        quote = 0;
      } else if (c == '\\' && i + 1 < command.size() &&
                 std::strchr("\"\\$`", command[i + 1]) != nullptr) {
        word += command[++i];
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < command.size()) {
      word += command[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) throw PeerError("unterminated quote in command line: " + std::string(command));
  if (in_word) words.push_back(std::move(word));
  return words;
}

int signal_from_name(std::string_view name) {
  if (name.rfind("SIG", 0) == 0) name.remove_prefix(3);
  static const std::pair<std::string_view, int> kSignals[] = {
      {"TERM", SIGTERM}, {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"HUP", SIGHUP},
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}, {"KILL", SIGKILL}};
  for (const auto& [n, s] : kSignals) {
    if (n == name) return s;
  }
  throw PeerError("unknown signal '" + std::string(name) +
                  "' (valid: TERM, INT, QUIT, HUP, USR1, USR2, WINCH, KILL)");
}

// ---------------------------------------------------------------- CommandPeer

CommandPeer::CommandPeer(PeerInfo info, PeerOptions options)
    : info_(std::move(info)), options_(std::move(options)) {}

CommandPeer::~CommandPeer() {
  CommandPeer::stop();
}

void CommandPeer::start() {
  if (!info_.installed) throw PeerError(info_.missing_reason);
  if (process_.valid()) throw PeerError(info_.kind + " already started");
  if (options_.run_dir.empty()) throw PeerError(info_.kind + ": no run directory");
  fs::create_directories(options_.run_dir);
  launch_ = prepare();
  // A port someone already listens on would make the readiness probe reach the wrong program
  // (real-peers.md §1.1).
  if (address_.is_tcp() && address_.port != 0 && can_connect(address_)) {
    throw PeerError(info_.kind + ": " + address_.to_string() + " is already in use");
  }
  if (launch_.spec.cwd.empty()) launch_.spec.cwd = options_.run_dir;
  if (launch_.spec.log_file.empty())
    launch_.spec.log_file = options_.run_dir / (info_.kind + ".out");
  try {
    process_ = Process::start(launch_.spec);
  } catch (const ProcessError& e) {
    throw PeerError(info_.kind + ": " + e.what());
  }
  bool ready = false;
  try {
    ready = wait_ready(launch_.ready_deadline, [this] { return process_.running(); });
  } catch (const NotReady&) {
    process_.stop(500ms, SIGKILL);
    throw;
  }
  if (ready) return;
  // Not ready: say why with the logs, and leave nothing behind.
  std::string why =
      process_.running()
          ? "did not become ready within " + std::to_string(launch_.ready_deadline.count()) + " ms"
          : "exited with status " + std::to_string(process_.exit_status().value_or(0));
  process_.stop(500ms, SIGKILL);
  std::string logs;
  for (const auto& f : artefacts()) {
    const auto tail = file_tail(f, 1500);
    if (!tail.empty() && f.extension() != ".conf" && f.extension() != ".cfg" &&
        f.extension() != ".yaml" && f.filename() != "Caddyfile") {
      logs += "\n--- " + f.string() + ":\n" + tail;
    }
  }
  throw PeerError(info_.kind + " (" + address_.to_string() + ") " + why + logs);
}

bool CommandPeer::wait_ready(std::chrono::milliseconds deadline,
                             const std::function<bool()>& alive) {
  bool up = false;
  wait_until(
      [&] {
        if (!alive()) return true;
        return up = can_connect(address_);
      },
      deadline, options_.pump);
  return up;
}

void CommandPeer::stop() {
  if (!process_.valid()) return;
  process_.stop(launch_.grace, launch_.stop_signal);
}

std::vector<fs::path> CommandPeer::artefacts() const {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& f : launch_.artefacts) {
    if (fs::exists(f, ec)) out.push_back(f);
  }
  if (!launch_.spec.log_file.empty() && fs::exists(launch_.spec.log_file, ec)) {
    out.push_back(launch_.spec.log_file);
  }
  return out;
}

// ---------------------------------------------------------------- generic adapters

namespace {

fs::path find_program(std::string_view name) {
  if (name.find('/') != std::string_view::npos) return fs::path(name);
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  dirs += ":/usr/local/sbin:/usr/sbin:/sbin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

std::string knob(const PeerOptions& options, const std::string& name, std::string fallback) {
  const auto it = options.knobs.find(name);
  return it == options.knobs.end() ? std::move(fallback) : it->second;
}

std::chrono::milliseconds knob_ms(const PeerOptions& options, const std::string& name,
                                  std::chrono::milliseconds fallback) {
  const auto text = knob(options, name, "");
  if (text.empty()) return fallback;
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (*end != '\0' || value < 0)
    throw PeerError("knob '" + name + "': not a number of ms: " + text);
  return std::chrono::milliseconds(value);
}

}  // namespace

const CommandPeerKeys& command_gateway_keys() {
  static const CommandPeerKeys keys{
      {"command", "config", "ready", "ready_path", "stop_signal", "grace_ms", "user"},
      {"http", "connect"}};
  return keys;
}

const CommandPeerKeys& command_backend_keys() {
  static const CommandPeerKeys keys{
      {"command", "config", "ready", "stop_signal", "grace_ms", "user"}, {"fcgi", "connect"}};
  return keys;
}

namespace {

/// Where a program run as another user (knob `user`) may write: {run_dir}/home-<user>; the
/// run folder itself when it runs as the harness.
fs::path own_folder(const PeerOptions& options) {
  const auto user = knob(options, "user", "");
  return user.empty() ? options.run_dir : options.run_dir / ("home-" + user);
}

/// Checks the knobs against `keys` and `ready` against its choices.
void check_command_knobs(const PeerInfo& info, const PeerOptions& options,
                         const CommandPeerKeys& keys) {
  check_knobs(info.kind, options.knobs, keys.keys);
  const auto ready = knob(options, "ready", keys.ready_choices.front());
  if (std::find(keys.ready_choices.begin(), keys.ready_choices.end(), ready) ==
      keys.ready_choices.end()) {
    std::string choices;
    for (const auto& c : keys.ready_choices) choices += (choices.empty() ? "" : " or ") + c;
    throw PeerError(info.kind + ": knob 'ready' is " + choices + ", not '" + ready + "'");
  }
}

// The generic adapters' common part: the command line and config come from knobs.
class GenericPeer : public CommandPeer {
 protected:
  using CommandPeer::CommandPeer;

  // Renders the optional config template and the command line word by word (a rendered path
  // with spaces stays one word), and reads the stop knobs: the whole launch of a generic peer.
  Launch generic_launch(std::map<std::string, std::string> vars) const {
    const auto command = knob(options_, "command", "");
    if (command.empty()) throw PeerError("the generic adapters need knob 'command'");
    Launch launch;
    launch.spec.cwd = options_.run_dir;
    if (const auto name = knob(options_, "user", ""); !name.empty()) {
      launch.spec.user = find_user(name);
      if (!launch.spec.user)
        throw PeerError(info_.kind + ": no user '" + name + "' on this machine");
      if (::geteuid() != 0 && launch.spec.user->uid != ::geteuid())
        throw PeerError(info_.kind + ": running it as '" + name +
                        "' needs the harness to run as root");
      launch.spec.cwd = make_own_folder(*launch.spec.user);
      launch.spec.env["HOME"] = launch.spec.cwd.string();
    }
    // {run_dir} is where the program may write: its own folder when it runs as another user.
    vars["run_dir"] = launch.spec.cwd.string();
    vars["config"] = "";
    if (const auto config = knob(options_, "config", ""); !config.empty()) {
      fs::path name = fs::path(config).filename();
      if (name.extension() == ".in") name.replace_extension();
      vars["config"] = render_file(config, options_.run_dir / name, vars).string();
      launch.artefacts.push_back(vars["config"]);
    }
    for (const auto& word : split_command_line(command))
      launch.spec.argv.push_back(render(word, vars));
    if (launch.spec.argv.empty()) throw PeerError("empty command line");
    launch.stop_signal = signal_from_name(knob(options_, "stop_signal", "TERM"));
    launch.grace = knob_ms(options_, "grace_ms", 3000ms);
    return launch;
  }

  /// own_folder(), made and owned by the user: the one place in the run folder it may write.
  fs::path make_own_folder(const UserIdentity& user) const {
    const fs::path home = own_folder(options_);
    fs::create_directories(home);
    if (::chown(home.c_str(), user.uid, user.gid) != 0)
      throw PeerError("chown " + home.string() + ": " + std::strerror(errno));
    return home;
  }
};

class GenericGateway final : public GenericPeer {
 public:
  GenericGateway(PeerInfo info, PeerOptions options)
      : GenericPeer(std::move(info), std::move(options)) {
    check_command_knobs(info_, options_, command_gateway_keys());
  }

 private:
  Launch prepare() override {
    address_ = options_.listen;
    if (!address_.is_tcp()) throw PeerError("generic-gateway: listens on tcp only");
    if (address_.host.empty()) address_.host = "127.0.0.1";
    if (address_.port == 0) address_.port = pick_port();
    const auto& up = options_.upstream;
    std::map<std::string, std::string> vars = {
        {"http_host", address_.host},
        {"http_port", std::to_string(address_.port)},
        {"backend_addr", up.to_string()},
        {"backend_host", up.is_tcp() ? up.host : ""},
        {"backend_port", up.is_tcp() ? std::to_string(up.port) : ""},
        {"backend_path", up.is_tcp() ? "" : up.path},
    };
    return generic_launch(std::move(vars));
  }

  bool wait_ready(std::chrono::milliseconds deadline, const std::function<bool()>& alive) override {
    // `ready: connect`: a gateway that never answers (a hostile one, scenarios/hostile/) is
    // ready once it accepts connections.
    if (knob(options_, "ready", command_gateway_keys().ready_choices.front()) == "connect")
      return CommandPeer::wait_ready(deadline, alive);
    return wait_http_answer(address_, knob(options_, "ready_path", "/"), deadline, options_.pump,
                            alive)
        .has_value();
  }
};

class GenericBackend final : public GenericPeer {
 public:
  GenericBackend(PeerInfo info, PeerOptions options)
      : GenericPeer(std::move(info), std::move(options)) {
    check_command_knobs(info_, options_, command_backend_keys());
  }

 private:
  Launch prepare() override {
    address_ = options_.listen;
    if (address_.is_tcp()) {
      if (address_.host.empty()) address_.host = "127.0.0.1";
      if (address_.port == 0) address_.port = pick_port();
    } else if (address_.path.empty() || own_folder(options_) != options_.run_dir) {
      // A backend run as another user listens in its own folder (generic_launch makes it).
      address_.path = (own_folder(options_) / "backend.sock").string();
    }
    std::map<std::string, std::string> vars = {
        {"addr", address_.to_string()},
        {"host", address_.is_tcp() ? address_.host : ""},
        {"port", address_.is_tcp() ? std::to_string(address_.port) : ""},
        {"path", address_.is_tcp() ? "" : address_.path},
    };
    return generic_launch(std::move(vars));
  }

  bool wait_ready(std::chrono::milliseconds deadline, const std::function<bool()>& alive) override {
    if (knob(options_, "ready", command_backend_keys().ready_choices.front()) == "connect") {
      return CommandPeer::wait_ready(deadline, alive);
    }
    // A plain GET with an empty query. Refused: not listening yet, ask again. Answered but
    // not with a complete, well-formed response: that is its answer, reported at once.
    // Connected but nothing came back, again and again (closed at once, or silent for 2 s):
    // that too is its answer, after three tries, not a start that takes long.
    const FcgiRequest request;
    std::string wrong;
    bool ready = false;
    int silent = 0;
    wait_until(
        [&] {
          if (!alive()) return true;
          if (!can_connect(address_)) return false;
          const auto r = fcgi_exchange(address_, request, 2s, options_.pump);
          if (r.ended && r.error.empty()) return ready = true;
          if (r.bytes_received == 0) {
            if (r.error.empty() || ++silent < 3) return false;
            wrong = "nothing came back, three times: " + r.error;
            return true;
          }
          wrong = wrong_answer(r);
          return true;
        },
        deadline, options_.pump);
    if (!wrong.empty())
      throw NotReady(info_.kind + " (" + address_.to_string() +
                     ") answered its readiness request (a plain GET) wrongly: " + wrong);
    return ready;
  }
};

}  // namespace

PeerInfo generic_info(std::string_view kind, std::string_view command) {
  PeerInfo info;
  info.kind = std::string(kind);
  std::vector<std::string> words;
  try {
    words = split_command_line(command);
  } catch (const PeerError&) {
  }
  if (words.empty()) {
    info.missing_reason = info.kind + ": no command line (knob 'command')";
    return info;
  }
  // The program may itself be a placeholder ({run_dir}/app): then it is checked at exec.
  const bool templated = words[0].find('{') != std::string::npos;
  const fs::path program = templated ? fs::path(words[0]) : find_program(words[0]);
  info.binary = program.empty() ? words[0] : program.string();
  info.installed = templated || (!program.empty() && ::access(program.c_str(), X_OK) == 0);
  if (!info.installed) info.missing_reason = info.kind + ": program not found: " + words[0];
  return info;
}

// The info is computed before the options move into the peer.
std::unique_ptr<Peer> make_generic_gateway(PeerOptions options) {
  auto info = generic_info("generic-gateway", knob(options, "command", ""));
  return std::make_unique<GenericGateway>(std::move(info), std::move(options));
}

std::unique_ptr<Peer> make_generic_backend(PeerOptions options) {
  auto info = generic_info("generic-backend", knob(options, "command", ""));
  return std::make_unique<GenericBackend>(std::move(info), std::move(options));
}

}  // namespace fh::peers
