// Process and syscall faults on one real peer (gateway or backend program): arm once the peer
// is ready, fire at bus events or timers on the run's io_context, disarm before the peer stops.
//
// Signals go to the peer's whole process group (master and workers alike). Syscall faults run
// strace --inject attached to every process of the group after readiness, so the readiness
// requests are neither disturbed nor counted by `when`.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/bus.hpp"
#include "peers/peer.hpp"
#include "peers/process.hpp"
#include "scenario/peer_faults.hpp"

namespace fh::runner {

/// The graceful stop signal of a real program (real-peers.md §4; the adapters' choice); for
/// kind "command" the `stop_signal` knob (TERM by default).
int graceful_stop_signal(const std::string& kind, const std::map<std::string, std::string>& knobs);

/// Why syscall faults cannot run here (strace missing, with the apt package); nullopt if fine.
std::optional<std::string> strace_missing();

class PeerFaults {
 public:
  struct Config {
    std::string role;  // "gateway" or "backend": event details say whose group it was
    std::string kind;  // "nginx", "php-fpm", ...
    std::map<std::string, std::string> knobs;
    std::vector<scenario::ProcessFault> process_faults;
    std::vector<scenario::SyscallFault> syscall_faults;
    std::filesystem::path run_dir;  // strace's log goes here
    /// The peer's syscalls are also observed (observe.syscalls): a process has one tracer,
    /// so the faults' strace runs with the timeline's options and this trace set too, and its
    /// log is the peer's syscall timeline (strace_log()).
    bool timeline = false;
  };

  PeerFaults(boost::asio::io_context& io, events::Bus& bus, peers::Peer& peer, Config config);
  ~PeerFaults();  // disarm()
  PeerFaults(const PeerFaults&) = delete;
  PeerFaults& operator=(const PeerFaults&) = delete;

  /// Subscribes the process faults' triggers; attaches strace and returns once it traces
  /// every process of the group (pumping the io_context meanwhile). Throws if strace fails.
  void arm(const std::function<void()>& pump);

  /// Cancels pending triggers, thaws a frozen group, detaches and reaps strace. Idempotent;
  /// the peer itself is left to its adapter's stop().
  void disarm();

  /// strace's log, when syscall faults were armed.
  std::vector<std::filesystem::path> artefacts() const;
  /// strace's log (complete once disarmed); empty when no syscall fault was armed.
  const std::filesystem::path& strace_log() const { return strace_log_; }

 private:
  void trigger(const scenario::ProcessFault& fault);  // after delay_ms
  void fire(const scenario::ProcessFault& fault);
  void thaw(const std::string& why);
  void after(std::uint32_t ms, std::function<void()> action);
  void publish(const events::EventDecl& event, int signal, const std::string& why);
  void attach_strace(const std::function<void()>& pump);  // the group, whole (retries)
  void start_strace(const std::vector<pid_t>& pids, const std::function<void()>& pump);
  std::string inject_expressions() const;  // "close:delay_enter=200ms ...", for people
  void detach_strace();
  void read_strace();        // keeps one wait for readability pending on strace's pipe
  bool drain_strace_pipe();  // reads what strace wrote; false at its EOF
  void strace_output(std::string_view data);  // appends to the log, publishes each injection

  boost::asio::io_context& io_;
  events::Bus& bus_;
  peers::Peer& peer_;
  Config config_;
  std::vector<int> subscriptions_;
  std::list<boost::asio::steady_timer> timers_;
  std::shared_ptr<bool> armed_ = std::make_shared<bool>(false);  // guards queued handlers
  bool frozen_ = false;
  std::optional<peers::Process> strace_;
  std::filesystem::path strace_log_;
  // strace writes into a FIFO read on the run's loop, so each injection is published when it
  // happens (and can trigger a process fault); the log file keeps everything.
  std::optional<boost::asio::posix::stream_descriptor> strace_pipe_;
  std::string strace_line_;
  bool disarmed_ = false;
};

}  // namespace fh::runner
