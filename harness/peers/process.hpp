// The process core for real peers: start a program in its own session, stop its whole process
// group, reap everything (including orphaned grandchildren), and never leave a process behind
// when the harness exits or is interrupted.
//
// Plain POSIX (fork/exec), not Boost.Process: the harness needs setsid, PR_SET_PDEATHSIG, a
// child subreaper and a waitpid(-1) orphan reaper that records the statuses of the children it
// tracks; Boost.Process v1 waits on its own children and would lose those statuses to the
// reaper, and the fork-time hooks are clearer written out than as on_exec_setup handlers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/address.hpp"
#include "peers/custody.hpp"

namespace fh::peers {

/// Who a started program runs as, when not as the harness: looked up once (find_user), set in
/// the child after it entered its cgroup and before exec (the harness must be root for it).
struct UserIdentity {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, as initgroups(3) would set them
};

/// The account `name` of this machine (its passwd entry and groups); nullopt if it has none.
std::optional<UserIdentity> find_user(const std::string& name);

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH (the child's) unless it has a '/'
  /// Added to a clean minimal environment: PATH (the harness's, or the Debian default) and
  /// HOME = cwd. These entries override those two.
  std::map<std::string, std::string> env;
  std::filesystem::path cwd;         // empty: the harness's current directory
  std::filesystem::path log_file;    // stdout + stderr, appended; empty: /dev/null
  std::optional<UserIdentity> user;  // empty: as the harness; else USER and LOGNAME are set too
};

class ProcessError : public std::runtime_error {
  using runtime_error::runtime_error;
};

/// A started program, leader of its own session and process group (pgid == pid).
class Process {
 public:
  /// Forks and execs. The child: setsid(), into its custody cgroup (custody.hpp),
  /// PR_SET_PDEATHSIG(SIGKILL) so it dies with the harness's thread that started it, the
  /// spec's user's groups, gid and uid (in that order, so none can be regained), stdin
  /// /dev/null, stdout+stderr to log_file, every other inherited fd closed (asio sockets are not
  /// CLOEXEC). Throws ProcessError when the program cannot be found or exec fails (reported through
  /// a CLOEXEC pipe, so start() knows).
  static Process start(const ProcessSpec& spec);

  Process() = default;
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();  // stop(200 ms)

  pid_t pid() const { return pid_; }
  pid_t pgid() const { return pid_; }
  bool valid() const { return pid_ > 0; }

  /// The leader has not exited (reaps it if it has).
  bool running();
  /// Once the leader exited: its exit code, or -N when killed by signal N.
  std::optional<int> exit_status();
  /// Some process of the group still exists (zombies of the group included until reaped).
  bool group_alive() const;

  /// kill(-pgid, sig). No-op after the group is gone.
  void signal_group(int sig);

  /// Signals the group with `sig` (and SIGCONT, so a frozen group can act on it), waits up to
  /// `grace` for the whole group to exit, then SIGKILLs the group and reaps. Returns the
  /// leader's exit_status() (-SIGKILL if it had to be killed). Idempotent.
  int stop(std::chrono::milliseconds grace, int sig = SIGTERM);

  /// Processes stop() found outside the group, still carrying the peer's custody mark, and
  /// killed (children that escaped with setsid or a double fork).
  std::size_t escaped_processes() const { return escaped_; }
  /// stop() had to SIGKILL the group: it outlived its grace after the stop signal.
  bool stop_was_forced() const { return stop_forced_; }

 private:
  void poll_leader();

  pid_t pid_ = -1;
  std::optional<int> status_;  // the leader's, once reaped
  bool group_gone_ = false;    // never signal a pgid again once its group was empty
  custody::PeerMark mark_;     // how the peer and everything it starts are found again
  std::size_t escaped_ = 0;
  bool stop_forced_ = false;
};

/// Reaps every exited child without blocking (waitpid(-1, WNOHANG)): orphaned grandchildren
/// re-parented to the harness (it is a child subreaper from the first start()), and tracked
/// Processes, whose statuses are kept in the registry for their exit_status(). Untracked
/// children of other code (system(), ...) are reaped too: the harness starts children only here.
void reap_orphans();

/// Kills (SIGKILL) every live tracked group and reaps. Runs at normal exit and on
/// SIGINT/SIGTERM to the harness (then the signal is re-raised with the previous handler).
void kill_all_groups();

/// A TCP port on 127.0.0.1 below 32768 (the ephemeral range starts there, real-peers.md §1.1)
/// that nothing listens on (a connect is refused), that can be bound, and that this process
/// has not handed out before, nor another harness in this network namespace has claimed
/// (claim_port). Throws ProcessError if none is found.
std::uint16_t pick_port();

/// Claims `port` for this harness until 256 later claims or its exit, whichever comes first:
/// false when another process holds the claim. pick_port() claims what it picks.
bool claim_port(std::uint16_t port);

/// Polls `ready` every ~2 ms until it returns true (true) or `deadline` passes (false),
/// calling `pump` (may be empty) between attempts: pump runs the run's io_context briefly
/// (io.poll()) so fakes keep working while a real peer starts.
bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds deadline,
                const std::function<void()>& pump);

/// A connected non-blocking (O_NONBLOCK, CLOEXEC) socket, or -1 after at most `timeout`.
int connect_socket(const net::Address& address, std::chrono::milliseconds timeout);

/// One non-blocking connect attempt (tcp or unix), at most `timeout` long.
bool can_connect(const net::Address& address,
                 std::chrono::milliseconds timeout = std::chrono::milliseconds(5));

/// wait_until(can_connect(address)).
bool wait_tcp_ready(const net::Address& address, std::chrono::milliseconds deadline,
                    const std::function<void()>& pump);

/// Pids of the processes in process group `pgid` (from /proc), with their state letter;
/// `include_zombies` false leaves out state Z (real-peers.md §1.2).
std::vector<pid_t> group_members(pid_t pgid, bool include_zombies = false);

/// Waits until process group `pgid` has settled: the same members, none of them given CPU
/// time, for `quiet` on end (their threads' on-CPU nanoseconds, /proc/PID/task/TID/schedstat).
/// A program is then idle in accept() or poll(), not still starting children. False when it
/// is still busy at `deadline` (a program that never idles; the caller goes on regardless).
bool wait_group_settled(pid_t pgid, std::chrono::milliseconds quiet,
                        std::chrono::milliseconds deadline, const std::function<void()>& pump);

/// The last `max_bytes` of a file ("" if unreadable): error messages quote logs with it.
std::string file_tail(const std::filesystem::path& path, std::size_t max_bytes = 2000);

}  // namespace fh::peers
