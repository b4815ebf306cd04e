#include "peers/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "peers/custody.hpp"

namespace fh::peers {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Live process groups, readable from a signal handler (lock-free slots, no allocation).
constexpr std::size_t kSlots = 1024;
std::array<std::atomic<pid_t>, kSlots> g_live_groups{};

// Exit statuses reaped by reap_orphans() for pids a Process still tracks.
struct Registry {
  std::mutex mutex;
  std::map<pid_t, std::optional<int>> tracked;  // pid -> status once reaped
  std::set<std::uint16_t> ports_handed_out;
  std::deque<int> port_claims;  // the newest claims' sockets (claim_port), oldest first
};
Registry& registry() {
  static Registry* r = new Registry;  // leaked on purpose: used from atexit
  return *r;
}

struct sigaction g_previous[NSIG];

int decode_status(int raw) {
  if (WIFEXITED(raw)) return WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) return -WTERMSIG(raw);
  return raw;
}

void add_live(pid_t pgid) {
  for (auto& slot : g_live_groups) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, pgid)) return;
  }
  // More than kSlots live peers: the atexit path still covers them through the registry.
}

void remove_live(pid_t pgid) {
  for (auto& slot : g_live_groups) {
    pid_t expected = pgid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

// Async-signal-safe: kill() and sigaction() only.
void on_fatal_signal(int sig) {
  for (auto& slot : g_live_groups) {
    const pid_t pgid = slot.load();
    if (pgid > 0) ::kill(-pgid, SIGKILL);
  }
  ::sigaction(sig, &g_previous[sig], nullptr);
  ::raise(sig);  // delivered with the previous disposition once this handler returns
}

void at_exit() {
  kill_all_groups();
}

// Once per process: become the child subreaper so orphaned workers (php-fpm, fcgiwrap -c)
// come back to us instead of PID 1, which reaps late here (real-peers.md §1.2); kill every
// group at exit and on SIGINT/SIGTERM.
void ensure_initialised() {
  static std::once_flag once;
  std::call_once(once, [] {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    std::atexit(at_exit);
    for (int sig : {SIGINT, SIGTERM}) {
      struct sigaction current {};
      ::sigaction(sig, nullptr, &current);
      if (current.sa_handler == SIG_IGN) continue;  // e.g. under nohup: leave it alone
      struct sigaction action {};
      action.sa_handler = on_fatal_signal;
      sigemptyset(&action.sa_mask);
      ::sigaction(sig, &action, &g_previous[sig]);
    }
  });
}

// Looks argv[0] up in `path_var` like execvp would, but with the child's PATH.
std::string resolve_program(const std::string& name, const std::string& path_var) {
  if (name.find('/') != std::string::npos) return name;
  std::stringstream dirs(path_var);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw ProcessError("program not found in PATH (" + path_var + "): " + name);
}

void record_status(pid_t pid, int raw) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.tracked.find(pid);
  if (it != r.tracked.end()) it->second = decode_status(raw);
}

std::optional<int> recorded_status(pid_t pid) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.tracked.find(pid);
  return it == r.tracked.end() ? std::nullopt : it->second;
}

}  // namespace

std::optional<UserIdentity> find_user(const std::string& name) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
    return std::nullopt;
  UserIdentity user{found->pw_name, found->pw_uid, found->pw_gid, {}};
  int count = 64;
  user.groups.resize(count);
  if (::getgrouplist(found->pw_name, found->pw_gid, user.groups.data(), &count) < 0) {
    user.groups.resize(count);  // count is now the number it needs
    ::getgrouplist(found->pw_name, found->pw_gid, user.groups.data(), &count);
  }
  user.groups.resize(count);
  return user;
}

Process Process::start(const ProcessSpec& spec) {
  if (spec.argv.empty()) throw ProcessError("empty argv");
  ensure_initialised();

  std::map<std::string, std::string> env;
  const char* harness_path = std::getenv("PATH");
  env["PATH"] = harness_path && *harness_path
                    ? harness_path
                    : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  env["HOME"] = spec.cwd.empty() ? fs::current_path().string() : spec.cwd.string();
  if (spec.user) env["USER"] = env["LOGNAME"] = spec.user->name;
  for (const auto& [k, v] : spec.env) env[k] = v;
  // The custody marks last: a spec cannot unmark its peer.
  custody::PeerMark mark = custody::mark_new_peer();
  for (const auto& [k, v] : mark.env) env[k] = v;

  const std::string program = resolve_program(spec.argv[0], env["PATH"]);

  // Everything the child touches is prepared before fork: after fork only async-signal-safe
  // calls are allowed (the harness may have threads).
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> argv_c, env_c;
  for (const auto& a : spec.argv) argv_c.push_back(const_cast<char*>(a.c_str()));
  argv_c.push_back(nullptr);
  for (auto& e : env_strings) env_c.push_back(e.data());
  env_c.push_back(nullptr);
  const std::string cwd = spec.cwd.string();
  const std::optional<UserIdentity> user = spec.user;

  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) throw ProcessError("open /dev/null: " + std::string(std::strerror(errno)));
  int log_fd = null_fd;
  if (!spec.log_file.empty()) {
    log_fd = ::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      const int e = errno;
      ::close(null_fd);
      throw ProcessError("open " + spec.log_file.string() + ": " + std::strerror(e));
    }
  }
  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) {
    const int e = errno;
    ::close(null_fd);
    if (log_fd != null_fd) ::close(log_fd);
    throw ProcessError("pipe2: " + std::string(std::strerror(e)));
  }
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid == 0) {
    // Child. Report a failing step's errno through the pipe; exec closes it on success.
    auto fail = [&](int step) {
      const int report[2] = {step, errno};
      [[maybe_unused]] auto n = ::write(error_pipe[1], report, sizeof report);
      ::_exit(127);
    };
    ::setsid();
    custody::enter_cgroup(mark);
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(1);
    if (::getppid() != parent) ::_exit(127);  // the harness died before prctl took effect
    // Signals the harness blocks or ignores must not leak into the peer.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
    }
    if (::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) fail(2);
    // Inherited asio sockets are not CLOEXEC; a listener leaked into a peer would keep its
    // port open after the harness closed it.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) fail(3);
    // Groups before gid before uid: once the uid is dropped nothing else can change.
    if (user && (::setgroups(user->groups.size(), user->groups.data()) != 0 ||
                 ::setgid(user->gid) != 0 || ::setuid(user->uid) != 0))
      fail(5);
    ::execve(program.c_str(), argv_c.data(), env_c.data());
    fail(4);
  }
  const int fork_errno = errno;
  ::close(error_pipe[1]);
  ::close(null_fd);
  if (log_fd != null_fd) ::close(log_fd);
  if (pid < 0) {
    ::close(error_pipe[0]);
    throw ProcessError("fork: " + std::string(std::strerror(fork_errno)));
  }

  int report[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(error_pipe[0], report, sizeof report);
  } while (n < 0 && errno == EINTR);
  ::close(error_pipe[0]);
  if (n > 0) {
    int raw = 0;
    ::waitpid(pid, &raw, 0);
    static constexpr const char* kSteps[] = {"",      "prctl", "redirecting stdio",
                                             "chdir", "exec",  "changing user"};
    const int step = report[0] >= 1 && report[0] <= 5 ? report[0] : 4;
    throw ProcessError(std::string(kSteps[step]) + " failed for " + program +
                       (step == 5 ? " (to " + user->name + ")"
                        : user    ? " (as " + user->name + ")"
                                  : "") +
                       (step == 3 ? " (cwd " + cwd + ")" : "") + ": " + std::strerror(report[1]));
  }

  {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    r.tracked[pid] = std::nullopt;
  }
  add_live(pid);
  Process p;
  p.pid_ = pid;
  p.mark_ = std::move(mark);
  return p;
}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      status_(std::move(other.status_)),
      group_gone_(other.group_gone_),
      mark_(std::move(other.mark_)),
      escaped_(other.escaped_),
      stop_forced_(other.stop_forced_) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (valid()) stop(std::chrono::milliseconds(200));
    pid_ = std::exchange(other.pid_, -1);
    status_ = std::move(other.status_);
    group_gone_ = other.group_gone_;
    mark_ = std::move(other.mark_);
    escaped_ = other.escaped_;
    stop_forced_ = other.stop_forced_;
  }
  return *this;
}

Process::~Process() {
  if (valid()) stop(std::chrono::milliseconds(200));
}

void Process::poll_leader() {
  if (pid_ <= 0 || status_) return;
  int raw = 0;
  const pid_t r = ::waitpid(pid_, &raw, WNOHANG);
  if (r == pid_) {
    status_ = decode_status(raw);
  } else if (r < 0 && errno == ECHILD) {
    status_ = recorded_status(pid_);  // reap_orphans() got it first
  }
}

bool Process::running() {
  if (!valid()) return false;
  poll_leader();
  return !status_;
}

std::optional<int> Process::exit_status() {
  poll_leader();
  return status_;
}

bool Process::group_alive() const {
  if (!valid() || group_gone_) return false;
  return ::kill(-pid_, 0) == 0 || errno == EPERM;
}

void Process::signal_group(int sig) {
  if (!valid() || group_gone_) return;
  ::kill(-pid_, sig);
}

int Process::stop(std::chrono::milliseconds grace, int sig) {
  if (!valid()) return status_.value_or(0);
  auto gone = [this] {
    poll_leader();
    reap_orphans();  // workers orphaned by their master come back to us (subreaper)
    return !group_alive();
  };
  if (!group_gone_ && !gone()) {
    ::kill(-pid_, sig);
    if (sig != SIGKILL) ::kill(-pid_, SIGCONT);  // a frozen (SIGSTOP) peer must see sig
    if (!wait_until(gone, grace, {})) {
      stop_forced_ = sig != SIGKILL;
      ::kill(-pid_, SIGKILL);
      wait_until(gone, std::chrono::seconds(5), {});
    }
  }
  group_gone_ = !group_alive();
  // What left the process group (a double-forked daemon, a setsid'd child holding a port)
  // still carries the peer's mark.
  escaped_ += custody::kill_marked(mark_, std::chrono::seconds(2));
  reap_orphans();
  if (!status_) {
    // The leader is dead (the group is) but may still be an unreaped zombie: reap it.
    int raw = 0;
    if (::waitpid(pid_, &raw, 0) == pid_)
      status_ = decode_status(raw);
    else
      status_ = recorded_status(pid_);
  }
  remove_live(pid_);
  {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    r.tracked.erase(pid_);
  }
  return status_.value_or(-SIGKILL);
}

void reap_orphans() {
  for (;;) {
    int raw = 0;
    const pid_t pid = ::waitpid(-1, &raw, WNOHANG);
    if (pid <= 0) return;
    record_status(pid, raw);
  }
}

void kill_all_groups() {
  std::vector<pid_t> groups;
  for (auto& slot : g_live_groups) {
    const pid_t pgid = slot.exchange(0);
    if (pgid > 0) groups.push_back(pgid);
  }
  for (pid_t pgid : groups) ::kill(-pgid, SIGKILL);
  // Reap what we can within a bounded time; PID 1 gets the rest if we exit first.
  wait_until(
      [&] {
        reap_orphans();
        // Zombies are dead enough: those not re-parented to us are PID 1's to reap.
        for (pid_t pgid : groups) {
          if (!group_members(pgid).empty()) return false;
        }
        return true;
      },
      std::chrono::seconds(2), {});
}

bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds deadline,
                const std::function<void()>& pump) {
  const auto end = Clock::now() + deadline;
  for (;;) {
    const auto attempt = Clock::now();
    if (ready()) return true;
    if (Clock::now() >= end) return false;
    if (pump) pump();
    std::this_thread::sleep_until(std::min(end, attempt + std::chrono::milliseconds(2)));
  }
}

int connect_socket(const net::Address& address, std::chrono::milliseconds timeout) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  if (address.is_tcp()) {
    if (address.host.find(':') != std::string::npos) {
      auto* sa = reinterpret_cast<sockaddr_in6*>(&storage);
      sa->sin6_family = family = AF_INET6;
      sa->sin6_port = htons(address.port);
      if (::inet_pton(AF_INET6, address.host.c_str(), &sa->sin6_addr) != 1) return -1;
      length = sizeof *sa;
    } else {
      auto* sa = reinterpret_cast<sockaddr_in*>(&storage);
      sa->sin_family = AF_INET;
      sa->sin_port = htons(address.port);
      if (::inet_pton(AF_INET, address.host.c_str(), &sa->sin_addr) != 1) return -1;
      length = sizeof *sa;
    }
  } else {
    auto* sa = reinterpret_cast<sockaddr_un*>(&storage);
    sa->sun_family = family = AF_UNIX;
    if (address.path.size() >= sizeof sa->sun_path) return -1;
    std::memcpy(sa->sun_path, address.path.c_str(), address.path.size() + 1);
    length = sizeof *sa;
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&storage), length) == 0;
  if (!ok && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
      int error = 0;
      socklen_t len = sizeof error;
      ok = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0;
    }
  }
  if (ok) return fd;
  ::close(fd);
  return -1;
}

bool can_connect(const net::Address& address, std::chrono::milliseconds timeout) {
  const int fd = connect_socket(address, timeout);
  if (fd >= 0) ::close(fd);
  return fd >= 0;
}

bool wait_tcp_ready(const net::Address& address, std::chrono::milliseconds deadline,
                    const std::function<void()>& pump) {
  return wait_until([&] { return can_connect(address); }, deadline, pump);
}

namespace {

/// A run uses a port within seconds of picking it; a claim older than this many picks is done.
constexpr std::size_t kPortClaimsHeld = 256;

/// The abstract unix socket that claims `port` for this process: "\0fcgi-harness/port/N".
/// Abstract names are per network namespace, like the ports they stand for, and the kernel
/// frees them when the process dies: nothing is left behind, whatever ends the harness.
int bind_port_claim(std::uint16_t port) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const std::string name = "fcgi-harness/port/" + std::to_string(port);
  std::memcpy(sa.sun_path + 1, name.data(), name.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0) return fd;
  ::close(fd);
  return -1;
}

}  // namespace

bool claim_port(std::uint16_t port) {
  const int fd = bind_port_claim(port);
  if (fd < 0) return false;
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  r.port_claims.push_back(fd);
  if (r.port_claims.size() > kPortClaimsHeld) {
    ::close(r.port_claims.front());
    r.port_claims.pop_front();
  }
  return true;
}

std::uint16_t pick_port() {
  // Random rather than sequential: several harnesses (and engineers) share the machine.
  static std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> dist(15000, 32767);
  auto& r = registry();
  for (int attempt = 0; attempt < 500; ++attempt) {
    const auto port = static_cast<std::uint16_t>(dist(rng));
    {
      std::lock_guard lock(r.mutex);
      if (r.ports_handed_out.count(port)) continue;
    }
    if (can_connect(net::Address::tcp("127.0.0.1", port))) continue;
    // Bind without SO_REUSEADDR: fails while TIME_WAIT sockets hold the port, which would
    // make peers without SO_REUSEADDR (fcgiwrap -s tcp:) fail to start (real-peers.md §1.4).
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    // Free now, but the program binds it later: another harness on this machine could pick it
    // in between (a soak saw php-fpm's "Address already in use"). Harnesses claim what they
    // pick and skip what another has claimed.
    if (!free || !claim_port(port)) continue;
    std::lock_guard lock(r.mutex);
    r.ports_handed_out.insert(port);
    return port;
  }
  throw ProcessError("no free TCP port below 32768 on 127.0.0.1");
}

std::vector<pid_t> group_members(pid_t pgid, bool include_zombies) {
  std::vector<pid_t> out;
  for (const auto& entry :
       fs::directory_iterator("/proc", fs::directory_options::skip_permission_denied)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = static_cast<pid_t>(std::stol(name));
    const auto stat = custody::proc_stat(pid);
    if (!stat || stat->pgrp != pgid) continue;  // exited meanwhile, or another group's
    if (stat->state == 'Z' && !include_zombies) continue;
    out.push_back(pid);
  }
  return out;
}

namespace {

/// The nanoseconds the threads of `pid` have run on a CPU (schedstat's first field); 0 for a
/// process that is gone.
unsigned long long on_cpu_ns(pid_t pid) {
  unsigned long long total = 0;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "schedstat");
    unsigned long long ns = 0;
    if (in >> ns) total += ns;
  }
  return total;
}

}  // namespace

bool wait_group_settled(pid_t pgid, std::chrono::milliseconds quiet,
                        std::chrono::milliseconds deadline, const std::function<void()>& pump) {
  std::vector<std::pair<pid_t, unsigned long long>> last;
  auto quiet_since = Clock::now();
  return wait_until(
      [&] {
        std::vector<std::pair<pid_t, unsigned long long>> now;
        for (const pid_t pid : group_members(pgid)) now.emplace_back(pid, on_cpu_ns(pid));
        const auto at = Clock::now();
        if (now != last) {
          last = std::move(now);
          quiet_since = at;
          return false;
        }
        return at - quiet_since >= quiet;
      },
      deadline, pump);
}

std::string file_tail(const fs::path& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(in.tellg());
  const std::size_t from = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string out(size - from, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

}  // namespace fh::peers
