// Custody of everything a harness run starts or creates, so that nothing outlives the run,
// whatever ends it (a normal exit, SIGINT, SIGKILL, the OOM killer, a crash), and so that the
// next start removes what a run killed together with its watchdog left behind.
//
// Three marks, each covering what the one before cannot (docs/architecture.md, "Kill hygiene"):
//  - a cgroup v2 per peer, <cgroup2 mount>/fcgi-harness/<run token>/<peer serial>, when the
//    harness may create one (root, a writable cgroup2 mount): no fork, double fork or setsid
//    leaves it, and cgroup.kill ends all of it at once;
//  - an environment mark in every peer, FCGI_HARNESS_RUN (this run's token, then the tokens of
//    the harnesses above it when a harness is itself a peer) and FCGI_HARNESS_PEER; children
//    inherit it through fork and exec, and /proc/PID/environ shows it even after a program
//    rewrote its own environment. It works without root;
//  - an owner file (.owner, holding the run token) in every temporary folder.
// A run token is "<pid>-<start time in clock ticks>" (/proc/PID/stat field 22): a pid reused
// by another process has another start time, so a token names one process forever.
//
// The watchdog: the first time a run needs custody it forks a small process in its own session
// that ignores SIGINT/SIGTERM/SIGHUP and blocks on a pipe from the harness. When the pipe ends
// (the harness exited or was killed) it kills every marked process, removes the run's cgroups
// and folders, and exits. SIGKILL cannot be caught, but it cannot stop a pipe from closing.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fh::peers::custody {

inline constexpr const char* kRunMark = "FCGI_HARNESS_RUN";
inline constexpr const char* kPeerMark = "FCGI_HARNESS_PEER";
inline constexpr const char* kOwnerFile = ".owner";
/// Temporary folders of runs are <temp>/fcgi-harness-XXXXXX; this one is a shared build cache
/// (backends.cpp) and belongs to no run.
inline constexpr const char* kTempPrefix = "fcgi-harness-";
inline constexpr const char* kSharedCache = "fcgi-harness-cache";

/// What the harness reads of /proc/PID/stat (proc(5)): the state (field 3), parent (4),
/// process group (5) and start time in clock ticks (22).
struct ProcStat {
  char state = 0;
  pid_t ppid = 0;
  pid_t pgrp = 0;
  unsigned long long start_ticks = 0;
};
/// nullopt when the process is gone. comm may hold spaces and parentheses: the fields are
/// counted after the last ')'.
std::optional<ProcStat> proc_stat(pid_t pid);

/// This process's token, "<pid>-<start ticks>".
const std::string& run_token();

/// How one peer is marked: the environment entries it gets and, when cgroups are usable, the
/// cgroup.procs file its child writes itself into before exec.
struct PeerMark {
  std::map<std::string, std::string> env;  // FCGI_HARNESS_RUN and FCGI_HARNESS_PEER
  std::string peer_id;                     // the FCGI_HARNESS_PEER value
  std::filesystem::path cgroup;            // empty: no cgroup for this peer
  std::string cgroup_procs;                // cgroup / "cgroup.procs", prepared before fork
};

/// Starts the watchdog (once) and returns a fresh mark for a peer about to be started.
PeerMark mark_new_peer();

/// In the forked child, before exec: moves the calling process into the mark's cgroup.
/// Async-signal-safe (open, write, close). Does nothing without a cgroup.
void enter_cgroup(const PeerMark& mark) noexcept;

/// Live (non-zombie) processes carrying the mark: the cgroup's members and every process whose
/// environment holds its FCGI_HARNESS_PEER value.
std::vector<pid_t> marked_processes(const PeerMark& mark);

/// SIGKILLs every process carrying the mark until none is left (or `deadline` passes), then
/// removes the peer's cgroup. Returns how many processes it had to kill (children that left
/// the peer's process group: a double-forked daemon, a setsid'd child holding a port).
std::size_t kill_marked(const PeerMark& mark, std::chrono::milliseconds deadline);

/// Creates a run's temporary folder, "<temp>/fcgi-harness-<run token>-XXXXXX", with its owner
/// file (the run token), so that the watchdog, or the next start if the watchdog died too,
/// removes the folder when the run is gone, even one killed while creating it.
std::filesystem::path make_run_folder();

/// What a start found and removed from runs that died with their watchdogs.
struct Cleanup {
  std::size_t processes = 0, folders = 0, cgroups = 0;
};

/// Removes what runs that are no longer alive left: processes whose nearest harness (the
/// first token of FCGI_HARNESS_RUN) is gone, folders whose owner is gone, their cgroups.
/// Another running harness's processes and folders are not touched: its token is alive.
Cleanup clean_up_after_dead_runs();

/// Normal exit: tells the watchdog the run is over and waits (bounded) until it has checked
/// that nothing is left and exited.
void release();

/// Pid of the watchdog, -1 before it started (tests).
pid_t watchdog_pid();

/// True when the process named by `token` ("<pid>-<start ticks>") is alive.
bool token_alive(const std::string& token);

}  // namespace fh::peers::custody
