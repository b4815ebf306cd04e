#include "peers/custody.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace fh::peers::custody {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kCgroupFolder = "fcgi-harness";
// A folder without an owner file is left alone this long: it may be one being made right now.
constexpr auto kUnownedFolderAge = std::chrono::hours(1);

/// The whole of a small /proc file ("" when the process is gone or the file unreadable).
std::string read_proc_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

/// The value of `name` in a NUL-separated environment block, or nullopt.
std::optional<std::string> environ_value(const std::string& block, const std::string& name) {
  const std::string key = name + "=";
  std::size_t at = 0;
  while (at < block.size()) {
    const std::size_t end = std::min(block.find('\0', at), block.size());
    if (block.compare(at, key.size(), key) == 0)
      return block.substr(at + key.size(), end - at - key.size());
    at = end + 1;
  }
  return std::nullopt;
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

/// Every live (non-zombie) process but this one, with its environment block.
template <typename Visit>
void for_each_live_process(Visit&& visit) {
  std::error_code ec;
  for (fs::directory_iterator it("/proc", fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == ::getpid()) continue;
    const auto stat = proc_stat(pid);
    if (!stat || stat->state == 'Z' || stat->state == 'X') continue;
    const std::string block = read_proc_file("/proc/" + name + "/environ");
    if (block.find(kRunMark) == std::string::npos) continue;  // cheap filter
    visit(pid, block);
  }
}

// --- cgroups ---------------------------------------------------------------------------------

/// The cgroup2 mount point, from /proc/self/mountinfo ("" when there is none).
fs::path cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    // "... mount-point options - fstype source super-options"
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    const auto type = split_words(line.substr(dash + 3));
    if (type.empty() || type[0] != "cgroup2") continue;
    const auto fields = split_words(line.substr(0, dash));
    if (fields.size() >= 5) return fields[4];
  }
  return {};
}

/// <mount>/fcgi-harness when the harness may make cgroups there ("" otherwise).
const fs::path& cgroup_parent() {
  static const fs::path parent = [] {
    const fs::path mount = cgroup2_mount();
    if (mount.empty()) return fs::path();
    const fs::path folder = mount / kCgroupFolder;
    if (::mkdir(folder.c_str(), 0755) != 0 && errno != EEXIST) return fs::path();
    if (::access(folder.c_str(), W_OK) != 0) return fs::path();
    return folder;
  }();
  return parent;
}

bool write_file(const fs::path& path, const char* text) noexcept {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text, std::strlen(text)) == static_cast<ssize_t>(std::strlen(text));
  ::close(fd);
  return ok;
}

std::vector<pid_t> cgroup_members(const fs::path& cgroup) {
  std::vector<pid_t> out;
  std::istringstream in(read_proc_file((cgroup / "cgroup.procs").string()));
  for (pid_t pid; in >> pid;) out.push_back(pid);
  return out;
}

bool cgroup_populated(const fs::path& cgroup) {
  return read_proc_file((cgroup / "cgroup.events").string()).find("populated 1") !=
         std::string::npos;
}

/// Kills everything in `cgroup` and below (cgroup.kill is recursive), waits until it is empty,
/// removes it and its children. True when it is gone.
bool remove_cgroup(const fs::path& cgroup, milliseconds deadline) {
  std::error_code ec;
  if (!fs::exists(cgroup, ec)) return true;
  const auto end = Clock::now() + deadline;
  while (cgroup_populated(cgroup) && Clock::now() < end) {
    write_file(cgroup / "cgroup.kill", "1");
    std::this_thread::sleep_for(milliseconds(2));
  }
  std::vector<fs::path> children;
  for (fs::directory_iterator it(cgroup, ec), stop; !ec && it != stop; it.increment(ec)) {
    if (it->is_directory(ec)) children.push_back(it->path());
  }
  for (const auto& child : children) remove_cgroup(child, milliseconds(500));
  return ::rmdir(cgroup.c_str()) == 0 || errno == ENOENT;
}

// --- temporary folders -------------------------------------------------------------------------

/// Run folders in the temp directory with their owner token ("" when unowned).
/// The token in a run folder's name, "fcgi-harness-<pid>-<start ticks>-XXXXXX"; "" for a name
/// without one.
std::string owner_in_name(const std::string& name) {
  const std::string rest = name.substr(std::string_view(kTempPrefix).size());
  const auto last = rest.rfind('-');
  if (last == std::string::npos) return "";
  const std::string token = rest.substr(0, last);
  const auto dash = token.find('-');
  const auto digits = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (dash == std::string::npos || !digits(std::string_view(token).substr(0, dash)) ||
      !digits(std::string_view(token).substr(dash + 1)))
    return "";
  return token;
}

std::vector<std::pair<fs::path, std::string>> run_folders(const fs::path& temp) {
  std::vector<std::pair<fs::path, std::string>> out;
  std::error_code ec;
  for (fs::directory_iterator it(temp, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(kTempPrefix, 0) != 0 || name == kSharedCache) continue;
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    std::string owner = read_proc_file((it->path() / kOwnerFile).string());
    while (!owner.empty() && std::isspace(static_cast<unsigned char>(owner.back())))
      owner.pop_back();
    if (owner.empty()) owner = owner_in_name(name);
    out.emplace_back(it->path(), owner);
  }
  return out;
}

bool older_than(const fs::path& path, std::chrono::seconds age) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return false;
  return std::time(nullptr) - st.st_mtime > age.count();
}

// --- the watchdog ----------------------------------------------------------------------------

struct Watchdog {
  std::mutex mutex;
  pid_t owner = -1;  // the harness process this watchdog guards (a fork() child is not it)
  pid_t pid = -1;
  int pipe_to = -1;  // our end of a socketpair; its close is the watchdog's signal
  std::atomic<unsigned> serial{0};
};
Watchdog& watchdog() {
  static Watchdog* w = new Watchdog;  // leaked on purpose: used from atexit
  return *w;
}

fs::path temp_directory() {
  std::error_code ec;
  auto temp = fs::temp_directory_path(ec);
  return ec ? fs::path("/tmp") : temp;
}

/// SIGKILLs what `find` returns, again and again (a dying parent may fork once more), until it
/// returns nothing or `deadline` passes; returns how many distinct processes were killed.
std::size_t kill_until_gone(const std::function<std::vector<pid_t>()>& find,
                            milliseconds deadline) {
  std::set<pid_t> killed;
  const auto end = Clock::now() + deadline;
  for (;;) {
    const auto found = find();
    if (found.empty() || Clock::now() >= end) break;
    for (pid_t pid : found) {
      ::kill(pid, SIGKILL);
      killed.insert(pid);
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  return killed.size();
}

/// The live processes whose FCGI_HARNESS_RUN chain passes `belongs` (its tokens, this run's
/// harness first).
std::vector<pid_t> processes_of_runs(
    const std::function<bool(const std::vector<std::string>& chain)>& belongs) {
  std::vector<pid_t> found;
  for_each_live_process([&](pid_t pid, const std::string& block) {
    const auto chain = environ_value(block, kRunMark);
    if (chain && belongs(split_words(*chain))) found.push_back(pid);
  });
  return found;
}

/// Kills every live process whose FCGI_HARNESS_RUN chain names `token` (it or a harness below
/// it started the process), until none is left or `deadline` passes.
std::size_t kill_run_processes(const std::string& token, milliseconds deadline) {
  return kill_until_gone(
      [&] {
        return processes_of_runs([&](const auto& chain) {
          return std::find(chain.begin(), chain.end(), token) != chain.end();
        });
      },
      deadline);
}

/// Everything a run leaves when it ends: its processes, cgroups and folders.
void remove_run(const std::string& token, const fs::path& temp) {
  const fs::path& parent = cgroup_parent();
  if (!parent.empty()) remove_cgroup(parent / token, milliseconds(5000));
  kill_run_processes(token, milliseconds(5000));
  for (const auto& [folder, owner] : run_folders(temp)) {
    std::error_code ec;
    if (owner == token) fs::remove_all(folder, ec);
  }
}

/// The watchdog's life: wait for the harness to go, then remove what it leaves.
[[noreturn]] void watchdog_main(int pipe_from, const std::string& token, const fs::path& temp) {
  char byte;
  for (;;) {
    // The harness writes nothing but its goodbye: that byte, EOF (it is gone, however) or an
    // error ends the wait; only an interrupted read waits again.
    const ssize_t n = ::read(pipe_from, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  remove_run(token, temp);
  ::_exit(0);
}

void at_exit() {
  release();
}

/// Forks the watchdog the first time custody is needed.
void ensure_watchdog() {
  auto& w = watchdog();
  std::lock_guard lock(w.mutex);
  if (w.owner == ::getpid()) return;
  if (w.owner > 0) {
    // A fork() of a guarded process (a test's forked "harness") inherited its parent's
    // watchdog: drop our copy of the end without a word, and get a watchdog of our own.
    if (w.pipe_to >= 0) ::close(w.pipe_to);
    w.pid = -1;
    w.pipe_to = -1;
  }
  w.owner = ::getpid();
  int fds[2];
  // A socketpair rather than a pipe: send(MSG_NOSIGNAL) cannot raise SIGPIPE in the harness.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return;
  const std::string token = run_token();
  const fs::path temp = temp_directory();
  (void)cgroup_parent();  // decided before fork, so the child does not probe
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The watchdog keeps nothing of the harness: no listening socket, no log, no terminal.
    ::setsid();
    ::prctl(PR_SET_NAME, "fh-watchdog");
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT}) ::signal(sig, SIG_IGN);
    const int null_fd = ::open("/dev/null", O_RDWR);
    for (int fd = 0; fd <= 2; ++fd) ::dup2(null_fd, fd);
    const int keep = fds[0];
    ::close_range(3, static_cast<unsigned>(keep) - 1, 0);
    ::close_range(static_cast<unsigned>(keep) + 1, ~0U, 0);
    watchdog_main(keep, token, temp);
  }
  ::close(fds[0]);
  if (pid < 0) {
    ::close(fds[1]);
    return;
  }
  w.pid = pid;
  w.pipe_to = fds[1];
  static std::once_flag registered;  // a fork() child inherits the registration
  std::call_once(registered, [] { std::atexit(at_exit); });
}

}  // namespace

std::optional<ProcStat> proc_stat(pid_t pid) {
  const std::string stat = read_proc_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  ProcStat out;
  fields >> out.state >> out.ppid >> out.pgrp;
  std::string skip;
  for (int field = 6; field < 22; ++field) fields >> skip;
  if (!(fields >> out.start_ticks)) return std::nullopt;
  return out;
}

const std::string& run_token() {
  // Per process: a fork() child is another process with a token of its own.
  static pid_t computed_for = -1;
  static std::string token;
  if (computed_for != ::getpid()) {
    computed_for = ::getpid();
    const auto stat = proc_stat(computed_for);
    token = std::to_string(computed_for) + "-" + std::to_string(stat ? stat->start_ticks : 0);
  }
  return token;
}

bool token_alive(const std::string& token) {
  const auto dash = token.find('-');
  if (dash == std::string::npos || dash == 0) return false;
  try {
    const auto pid = static_cast<pid_t>(std::stol(token.substr(0, dash)));
    const auto ticks = std::stoull(token.substr(dash + 1));
    const auto stat = proc_stat(pid);
    return stat && stat->state != 'Z' && stat->start_ticks == ticks;
  } catch (const std::exception&) {
    return false;
  }
}

PeerMark mark_new_peer() {
  ensure_watchdog();
  PeerMark mark;
  const unsigned serial = ++watchdog().serial;
  mark.peer_id = run_token() + "." + std::to_string(serial);
  // A harness that is itself a peer (certify's `serve`) passes on the harnesses above it.
  std::string chain = run_token();
  if (const char* above = std::getenv(kRunMark); above && *above) chain += std::string(" ") + above;
  mark.env[kRunMark] = chain;
  mark.env[kPeerMark] = mark.peer_id;
  if (const fs::path& parent = cgroup_parent(); !parent.empty()) {
    const fs::path run = parent / run_token();
    const fs::path peer = run / std::to_string(serial);
    if ((::mkdir(run.c_str(), 0755) == 0 || errno == EEXIST) && ::mkdir(peer.c_str(), 0755) == 0) {
      mark.cgroup = peer;
      mark.cgroup_procs = (peer / "cgroup.procs").string();
    }
  }
  return mark;
}

void enter_cgroup(const PeerMark& mark) noexcept {
  if (mark.cgroup_procs.empty()) return;
  const int fd = ::open(mark.cgroup_procs.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  [[maybe_unused]] const auto n = ::write(fd, "0", 1);
  ::close(fd);
}

std::vector<pid_t> marked_processes(const PeerMark& mark) {
  std::set<pid_t> out;
  if (!mark.cgroup.empty()) {
    for (pid_t pid : cgroup_members(mark.cgroup)) out.insert(pid);
  }
  for_each_live_process([&](pid_t pid, const std::string& block) {
    if (environ_value(block, kPeerMark) == mark.peer_id) out.insert(pid);
  });
  out.erase(::getpid());
  return {out.begin(), out.end()};
}

std::size_t kill_marked(const PeerMark& mark, milliseconds deadline) {
  const auto killed = kill_until_gone(
      [&] {
        auto found = marked_processes(mark);
        if (!found.empty() && !mark.cgroup.empty()) write_file(mark.cgroup / "cgroup.kill", "1");
        return found;
      },
      deadline);
  if (!mark.cgroup.empty()) remove_cgroup(mark.cgroup, milliseconds(500));
  return killed;
}

fs::path make_run_folder() {
  ensure_watchdog();
  // The owner is in the name from the moment the folder exists: a harness killed before it
  // wrote the owner file leaves a folder the next start still knows to be its.
  std::string templ = (temp_directory() / (kTempPrefix + run_token() + "-XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
  const fs::path folder = templ;
  std::ofstream(folder / kOwnerFile) << run_token() << "\n";
  return folder;
}

Cleanup clean_up_after_dead_runs() {
  Cleanup done;
  // Processes first: a dead run's peers may still be writing into its folders. A process
  // belongs to the run of the first token of its chain (the harness that started it).
  done.processes = kill_until_gone(
      [&] {
        return processes_of_runs([&](const auto& chain) {
          return !chain.empty() && chain.front() != run_token() && !token_alive(chain.front());
        });
      },
      milliseconds(2000));
  if (const fs::path& parent = cgroup_parent(); !parent.empty()) {
    std::error_code ec;
    std::vector<fs::path> dead;
    for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string token = it->path().filename().string();
      if (it->is_directory(ec) && token != run_token() && !token_alive(token))
        dead.push_back(it->path());
    }
    for (const auto& cgroup : dead) {
      if (remove_cgroup(cgroup, milliseconds(2000))) ++done.cgroups;
    }
  }
  for (const auto& [folder, owner] : run_folders(temp_directory())) {
    const bool dead = owner.empty() ? older_than(folder, kUnownedFolderAge)
                                    : owner != run_token() && !token_alive(owner);
    std::error_code ec;
    if (dead && fs::remove_all(folder, ec) > 0) ++done.folders;
  }
  return done;
}

void release() {
  auto& w = watchdog();
  pid_t pid;
  {
    std::lock_guard lock(w.mutex);
    if (w.owner != ::getpid() || w.pid <= 0 || w.pipe_to < 0) return;
    [[maybe_unused]] const auto n = ::send(w.pipe_to, "x", 1, MSG_NOSIGNAL);
    ::close(w.pipe_to);
    w.pipe_to = -1;
    pid = w.pid;
  }
  // Bounded: the watchdog needs a /proc scan or two when nothing is left.
  const auto end = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < end) {
    int raw = 0;
    const pid_t r = ::waitpid(pid, &raw, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return;
    std::this_thread::sleep_for(milliseconds(1));
  }
}

pid_t watchdog_pid() {
  std::lock_guard lock(watchdog().mutex);
  return watchdog().pid;
}

}  // namespace fh::peers::custody
