// The syscall timeline: strace attached to a real peer's process group, its log parsed into
// records (process, syscall, fd with its socket endpoints, bytes, result or errno, duration)
// and published on the run's bus as `syscall:<name>` events of the peer's party. It is how
// the harness sees what a gateway or backend did on legs pcap cannot see (unix sockets), and
// which errors the kernel gave it (EPIPE, ECONNRESET, EAGAIN...).
//
// strace runs as `strace -f -ttt -T -yy -e trace=... -o LOG -p PID...` (real-peers.md §5b:
// attaching to nginx workers works; readv is not in the network class, so it is named).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "events/bus.hpp"
#include "peers/process.hpp"

namespace fh::observers {

/// One line (or an unfinished/resumed pair) of `strace -f -ttt -T -yy` output.
struct SyscallRecord {
  enum class Kind { syscall, signal, exit };
  Kind kind = Kind::syscall;
  pid_t pid = 0;     // "[pid N]" or, with -o FILE, a bare "N " prefix; 0 when none (one tracee)
  double wall = 0;   // -ttt: seconds.micros since the Unix epoch (of the call's start)
  std::string name;  // "writev"; the signal for Kind::signal ("SIGPIPE"); "exit" otherwise
  std::string args;  // the argument text as printed, without the parentheses

  // The first argument's fd and its -yy annotation: `12<TCP:[127.0.0.1:41234->127.0.0.1:9000]>`
  // gives fd 12, fd_type "TCP", endpoints "127.0.0.1:41234->127.0.0.1:9000", local and
  // remote; `5<UNIX-STREAM:[123->124,"/run/x.sock"]>` gives local "123", remote "124", path.
  int fd = -1;
  std::string fd_type;    // "TCP", "TCPv6", "UNIX-STREAM", "pipe", "/dev/null", ...
  std::string endpoints;  // inside the brackets, as printed
  std::string local, remote, path;
  /// connect/bind/sendto: the sockaddr argument, "127.0.0.1:9000" or a unix path.
  std::string sockaddr;

  std::string result;                  // as printed: "1271", "-1", "?", "12<TCP:[...]>" (accept)
  std::optional<long long> retval;     // the number, when there is one
  std::string errno_name;              // "EPIPE", "EAGAIN", ... ; empty on success
  std::optional<std::uint64_t> bytes;  // read/write/readv/writev/send*/recv*: retval >= 0
  std::optional<double> duration;      // -T, seconds
  /// read/write family: the buffer argument(s) as printed (-s limits each), e.g.
  /// `[{iov_base="\1\5\0\1\0\0\0\0", iov_len=8}], 1`; empty for other calls.
  std::string data;
  /// "INJECTED" or "DELAYED" when a syscall fault (strace --inject) tampered with the call.
  std::string tampered;
  bool unfinished = false;  // never resumed (strace detached or the process died)
  int exit_status = 0;      // Kind::exit: "exited with N" (or -signal if killed)

  /// "fd 12 127.0.0.1:41234->127.0.0.1:9000 = 1271", "fd 9 = -1 EPIPE", ...
  std::string describe() const;
};

/// Parses a whole log (strace -f output, possibly interleaving unfinished/resumed lines of
/// several pids). Lines that are not records ("strace: Process N attached") are ignored.
std::vector<SyscallRecord> parse_strace(std::string_view text);

/// One complete line (no unfinished/resumed merging: an unfinished line gives a record with
/// `unfinished` set, a resumed one a record with no args before the resume point). nullopt
/// for lines that are not records.
std::optional<SyscallRecord> parse_strace_line(std::string_view line);

/// Reads and parses a log strace wrote with -o (empty when the file is missing).
std::vector<SyscallRecord> read_strace_log(const std::filesystem::path& log);

/// The timeline's strace options before -o/-p: `-f -ttt -T -yy -s LIMIT -e trace=TRACE`.
/// Syscall faults on an observed peer use them too, since a process has one tracer only.
std::vector<std::string> strace_timeline_args(const std::string& trace, unsigned string_limit);
/// The syscalls the timeline traces: the network class and the I/O and close calls (readv is
/// not in the network class, so it is named; real-peers.md §5b).
inline constexpr const char* kTimelineTrace = "network,read,write,readv,writev,close,shutdown";
/// -s: bytes of each buffer printed (a FastCGI header is 8; the first params fit).
inline constexpr unsigned kTimelineStringLimit = 64;
/// Parses the -yy annotation `12<TCP:[a->b]>` at the start of `text` into `record`'s fd fields.
/// Returns the characters consumed (0 when `text` does not start with one).
std::size_t parse_fd_annotation(std::string_view text, SyscallRecord& record);

class StraceError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

/// "strace not found in PATH ...: apt-get install strace", or nullopt when it is installed.
std::optional<std::string> strace_missing_reason();
/// The members of process group `pgid` that `tracer` does not trace. strace -f follows the
/// forks of a process it traces; a child forked while strace was still attaching, before it
/// traced the parent, is in no list and followed by nobody (php-fpm forks its children right
/// after opening its socket, while the harness may already be attaching).
std::vector<pid_t> untraced_members(pid_t pgid, pid_t tracer);

/// Traces every member of process group `pgid`: `start(pids)` starts a tracer for the members
/// listed and returns its pid; while the group forked a child that tracer does not follow
/// (untraced_members), `undo()` stops it and it starts over with a fresh list, 3 times at
/// most. Returns the pids it listed last; throws StraceError naming `who` if the group is
/// empty or keeps forking.
std::vector<pid_t> attach_whole_group(pid_t pgid, const std::string& who,
                                      const std::function<pid_t(const std::vector<pid_t>&)>& start,
                                      const std::function<void()>& undo);

/// "12,13,14"
std::string pid_list(const std::vector<pid_t>& pids);
/// The pid tracing `pid` (TracerPid in /proc/PID/status), 0 when none or gone. A process has
/// at most one tracer, which is why the timeline and syscall faults cannot share a peer.
pid_t tracer_of(pid_t pid);

/// What strace has said so far, for attach_strace: `live` the last 64 KiB of it, read while
/// `pump` runs (it must not take bytes the loop's own readers are owed), and `complaints` all
/// that is left to read once strace is gone, for the error.
struct StraceSaid {
  std::function<std::string()> live;
  std::function<std::string()> complaints;
};

/// Starts `strace OPTIONS -p PID...` (its stderr to `stderr_to`) and returns once it traces
/// every one of `pids` still alive, running `pump` meanwhile. TracerPid alone does not show
/// that: it is set at PTRACE_SEIZE, and until strace's PTRACE_INTERRUPT stops the tracee (to
/// restart it with syscall tracing) what the tracee calls goes untraced; a starved strace kept
/// that gap open for whole runs. strace says "Process N attached" once it has done both, so
/// the wait is for that line of each pid in `said.live()`. If strace exits or does not attach
/// within `deadline`, it is stopped and reaped and a StraceError says so, quoting strace.
/// `on_started` runs once strace holds its stderr open, before the wait (a FIFO's reader must
/// not start earlier: with no writer yet it reads EOF). `env` is added to strace's
/// environment. Shared by the syscall timeline and the syscall faults.
peers::Process attach_strace(const std::vector<std::string>& options,
                             const std::vector<pid_t>& pids, const std::filesystem::path& stderr_to,
                             const StraceSaid& said, const std::function<void()>& pump,
                             std::chrono::milliseconds deadline,
                             const std::function<void()>& on_started = {},
                             const std::map<std::string, std::string>& env = {});

class StraceTimeline {
 public:
  struct Options {
    std::filesystem::path dir;    // where the log goes (the run's folder)
    std::string stem = "strace";  // LOG = dir/stem.log, strace's own messages dir/stem.err
    std::string trace = kTimelineTrace;
    unsigned string_limit = kTimelineStringLimit;
    std::map<std::string, std::string> strace_env = {};  // added to strace's (tests: LD_PRELOAD)
  };

  explicit StraceTimeline(Options options);
  StraceTimeline(const StraceTimeline&) = delete;
  StraceTimeline& operator=(const StraceTimeline&) = delete;
  ~StraceTimeline();  // stop()

  /// Attaches to every live process of group `pgid` (call once the peer is ready; -f follows
  /// the children forked later) and returns once strace traces each of them (attach_strace).
  /// `pump` runs the run's io_context meanwhile (may be empty). Throws StraceError (strace
  /// missing, naming the apt package; empty group; not attached within `deadline`, with
  /// strace's messages).
  void attach(pid_t pgid, const std::function<void()>& pump,
              std::chrono::milliseconds deadline = std::chrono::milliseconds(5000));
  /// The same for these processes (-f: with all their threads and later children); how the
  /// harness traces itself, where the client and the fakes run.
  void attach_processes(const std::vector<pid_t>& pids, const std::function<void()>& pump,
                        std::chrono::milliseconds deadline = std::chrono::milliseconds(5000));
  bool attached() const { return strace_.has_value(); }
  /// The pids traced at attach().
  const std::vector<pid_t>& pids() const { return pids_; }
  pid_t tracer_pid() const { return tracer_; }

  /// SIGINT to strace (it detaches; the tracees run on untouched), then reaps it. Idempotent.
  void stop();

  std::filesystem::path log_path() const;
  /// The log parsed (call after stop(): strace flushes its output when it exits).
  std::vector<SyscallRecord> records() const;

  /// Publishes every record as an event of party `role`: name "syscall:<name>" (signals
  /// "signal:<SIGNAME>", exits "process_exited"), value = bytes or 0 (exits: the pid),
  /// detail = describe(), the pid and the time the call took, at = when the call returned
  /// (wall + duration) on the run's steady clock (steady_origin + (that - system_origin);
  /// capture both origins together). Returns the count.
  std::size_t publish_to(events::Bus& bus, const std::string& role,
                         events::Clock::time_point steady_origin,
                         std::chrono::system_clock::time_point system_origin) const;

 private:
  Options options_;
  std::optional<peers::Process> strace_;
  std::vector<pid_t> pids_;
  pid_t tracer_ = 0;
};

/// The sockets by which the harness's own syscalls are told apart: the client, the fake
/// gateway and the fake backend share one process (and one thread).
struct HarnessSockets {
  std::uint16_t gateway_port = 0;  // where the gateway listens (TCP)
  std::uint16_t backend_port = 0;  // where the backend listens, when on TCP
  std::string backend_path;        // ... or its unix socket
};

/// Splits a trace of the harness process by party, from each record's socket: "backend"
/// (its listener and accepted sockets), "gateway" (its listener, accepted sockets and its
/// connections to the backend), "client" (connections to the gateway). Other descriptors
/// (files, the capture's packet socket, eventfds, ...) and signals are the harness's own and
/// are left out.
std::map<std::string, std::vector<SyscallRecord>> split_harness_records(
    const std::vector<SyscallRecord>& records, const HarnessSockets& sockets);

/// Publishes `records` as StraceTimeline::publish_to does.
std::size_t publish_records(const std::vector<SyscallRecord>& records, events::Bus& bus,
                            const std::string& role, events::Clock::time_point steady_origin,
                            std::chrono::system_clock::time_point system_origin);

}  // namespace fh::observers
