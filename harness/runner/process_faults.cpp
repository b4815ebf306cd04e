#include "runner/process_faults.hpp"

#include "client/client_events.hpp"
#include "events/harness_events.hpp"
#include "observers/strace_timeline.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fh::runner {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using scenario::ProcessFault;
namespace harness_events = events::harness_events;

int graceful_stop_signal(const std::string& kind, const std::map<std::string, std::string>& knobs) {
  // As the adapters stop them (peers/gateways.cpp, peers/backends.cpp; real-peers.md §4).
  static const std::map<std::string, int> kGraceful = {
      {"nginx", SIGQUIT},         {"lighttpd", SIGINT}, {"apache", SIGWINCH}, {"h2o", SIGTERM},
      {"apache-fcgid", SIGWINCH}, {"haproxy", SIGUSR1}, {"caddy", SIGTERM},   {"php-fpm", SIGQUIT}};
  if (kind == "command") {
    auto it = knobs.find("stop_signal");
    const int sig = it == knobs.end() ? SIGTERM : scenario::signal_number(it->second);
    return sig ? sig : SIGTERM;
  }
  auto it = kGraceful.find(kind);
  return it == kGraceful.end() ? SIGTERM : it->second;
}

std::optional<std::string> strace_missing() {
  if (auto why = observers::strace_missing_reason()) return *why + " (needed by syscall_faults)";
  return std::nullopt;
}

using observers::tracer_of;

PeerFaults::PeerFaults(boost::asio::io_context& io, events::Bus& bus, peers::Peer& peer,
                       Config config)
    : io_(io), bus_(bus), peer_(peer), config_(std::move(config)) {}

PeerFaults::~PeerFaults() {
  try {
    disarm();
  } catch (const std::exception& e) {
    spdlog::warn("{} {}: disarming faults: {}", config_.role, config_.kind, e.what());
  }
}

void PeerFaults::arm(const std::function<void()>& pump) {
  *armed_ = true;
  for (const auto& fault : config_.process_faults) {
    const ProcessFault* f = &fault;  // config_ outlives every subscription
    // The trigger's scope is the run: the nth matching event since the faults were armed.
    auto state = std::make_shared<language::TriggerState>();
    if (f->at.kind == language::Trigger::Kind::event) {
      subscriptions_.push_back(
          bus_.subscribe(f->at.event, [this, f, state](const events::Event& e) {
            if (state->offer_event(f->at, e)) trigger(*f);
          }));
    } else {
      subscriptions_.push_back(bus_.subscribe(
          events::Selector::of(client::client_events::request_started),
          [this, f, state](const events::Event&) {
            if (!state->fire_now()) return;
            after(static_cast<std::uint32_t>(f->at.amount), [this, f] { trigger(*f); });
          }));
    }
  }
  if (!config_.syscall_faults.empty()) attach_strace(pump);
}

void PeerFaults::trigger(const ProcessFault& fault) {
  // No delay: act inside the publisher's handler, before anything else happens on the loop.
  if (fault.at.delay_ms == 0)
    fire(fault);
  else
    after(fault.at.delay_ms, [this, &fault] { fire(fault); });
}

void PeerFaults::after(std::uint32_t ms, std::function<void()> action) {
  auto& timer = timers_.emplace_back(io_, std::chrono::milliseconds(ms));
  timer.async_wait([armed = armed_, action = std::move(action)](boost::system::error_code ec) {
    if (!ec && *armed) action();
  });
}

void PeerFaults::publish(const events::EventDecl& event, int signal, const std::string& why) {
  auto* process = peer_.process();
  const pid_t pgid = process ? process->pgid() : 0;
  bus_.publish(event, 0, 0, static_cast<std::uint64_t>(pgid > 0 ? pgid : 0),
               config_.role + " " + config_.kind + " pgid " + std::to_string(pgid) + " SIG" +
                   scenario::signal_name(signal) + " (" + why + ")");
}

void PeerFaults::fire(const ProcessFault& fault) {
  auto* process = peer_.process();
  if (!process || !process->valid()) return;
  const std::string why = fault.describe();
  // kill(-pgid, 0), not a /proc scan: the signal must follow the trigger within microseconds.
  const std::string gone = ::kill(-process->pgid(), 0) == 0 ? "" : "; the group had already exited";
  switch (fault.action) {
    case ProcessFault::Action::freeze:
      process->signal_group(SIGSTOP);
      frozen_ = true;
      publish(harness_events::process_frozen, SIGSTOP, why + gone);
      if (fault.for_ms) after(*fault.for_ms, [this] { thaw("after for_ms"); });
      break;
    case ProcessFault::Action::kill:
      process->signal_group(SIGKILL);
      publish(harness_events::process_killed, SIGKILL, why + gone);
      break;
    case ProcessFault::Action::stop: {
      const int sig = graceful_stop_signal(config_.kind, config_.knobs);
      process->signal_group(sig);
      publish(harness_events::process_signalled, sig, "graceful stop: " + why + gone);
      break;
    }
    case ProcessFault::Action::signal: {
      const int sig = scenario::signal_number(fault.signal);
      process->signal_group(sig);
      if (sig == SIGSTOP) frozen_ = true;  // so the end of the run still thaws it
      publish(harness_events::process_signalled, sig, why + gone);
      break;
    }
  }
}

void PeerFaults::thaw(const std::string& why) {
  if (!frozen_) return;
  frozen_ = false;
  if (auto* process = peer_.process()) process->signal_group(SIGCONT);
  publish(harness_events::process_thawed, SIGCONT, why);
}

void PeerFaults::attach_strace(const std::function<void()>& pump) {
  auto* process = peer_.process();
  if (!process || !process->valid())
    throw std::runtime_error(config_.role + " " + config_.kind + ": no process to trace");
  // A program still starting (php-fpm forks its children after its first answer) would have
  // its start-up calls tampered with, not the run's: wait until the group idles (2 s at most).
  peers::wait_group_settled(process->pgid(), 30ms, 2000ms, pump);
  const std::string who = config_.role + " " + config_.kind;
  const auto pids = observers::attach_whole_group(
      process->pgid(), who,
      [&](const std::vector<pid_t>& members) {
        start_strace(members, pump);
        return strace_->pid();
      },
      [this] { detach_strace(); });
  const std::string expressions = inject_expressions();
  bus_.publish(harness_events::syscall_fault_armed, 0, 0,
               static_cast<std::uint64_t>(strace_->pid()),
               who + " pids " + observers::pid_list(pids) + ": " + expressions + " (log " +
                   strace_log_.filename().string() + ")");
}

void PeerFaults::start_strace(const std::vector<pid_t>& pids, const std::function<void()>& pump) {
  const std::string stem = config_.role + "-" + config_.kind + "-strace";
  strace_log_ = config_.run_dir / (stem + ".log");
  std::ofstream(strace_log_, std::ios::trunc);  // exists even if strace prints nothing
  // The reader opens first (non-blocking), so strace's open of the FIFO does not block.
  const auto fifo = config_.run_dir / (stem + ".pipe");
  if (::mkfifo(fifo.c_str(), 0600) != 0)
    throw std::runtime_error("mkfifo " + fifo.string() + ": " + std::strerror(errno));
  const int fd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("open " + fifo.string() + ": " + std::strerror(errno));
  strace_pipe_.emplace(io_, fd);
  // Trace only the tampered syscalls (less overhead and a readable log) unless the timeline
  // wants more; -f follows children forked later (php-fpm respawns, Apache's new children).
  std::string traced = config_.timeline ? observers::kTimelineTrace : "";
  for (const auto& f : config_.syscall_faults) traced += (traced.empty() ? "" : ",") + f.syscall;
  std::vector<std::string> options = {"-f", "-ttt", "-e", "trace=" + traced};
  if (config_.timeline)
    options = observers::strace_timeline_args(traced, observers::kTimelineStringLimit);
  for (const auto& f : config_.syscall_faults) {
    options.push_back("-e");
    options.push_back("inject=" + f.inject_expression());
  }
  // strace's output (trace and messages alike) reaches the log through the loop's reader
  // while the wait pumps it; once strace is gone, the rest of the pipe is drained for the error.
  const observers::StraceSaid said{[this] { return peers::file_tail(strace_log_, 1 << 16); },
                                   [this] {
                                     drain_strace_pipe();
                                     return peers::file_tail(strace_log_, 600);
                                   }};
  try {
    strace_.emplace(observers::attach_strace(options, pids, fifo, said, pump, 5000ms,
                                             [this] { read_strace(); }));
  } catch (const observers::StraceError& e) {
    detach_strace();
    throw std::runtime_error(config_.role + " " + config_.kind + " with " + inject_expressions() +
                             ": " + e.what());
  }
}

std::string PeerFaults::inject_expressions() const {
  std::string expressions;
  for (const auto& f : config_.syscall_faults)
    expressions += (expressions.empty() ? "" : " ") + f.inject_expression();
  return expressions;
}

// A wait for readability, then our own reads: bytes never sit in a completed read whose
// handler has not run, where the detach's drain could not reach them (a soak run lost a
// DELAYED line that way, read by the loop just before the run ended).
void PeerFaults::read_strace() {
  strace_pipe_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                           [this, armed = armed_](boost::system::error_code ec) {
                             // Disarmed: the detach drained the pipe itself.
                             if (ec || !*armed) return;
                             if (drain_strace_pipe()) read_strace();  // until strace's EOF
                           });
}

void PeerFaults::strace_output(std::string_view data) {
  std::ofstream(strace_log_, std::ios::app) << data;
  strace_line_ += data;
  for (auto nl = strace_line_.find('\n'); nl != std::string::npos; nl = strace_line_.find('\n')) {
    std::string line = strace_line_.substr(0, nl);
    strace_line_.erase(0, nl + 1);
    const bool injected = line.find("(INJECTED)") != std::string::npos;
    const bool delayed = line.find("(DELAYED)") != std::string::npos;
    if (!injected && !delayed) continue;
    // "[pid 1234] 1795319208.299 writev(12, ...) = -1 EPIPE (Broken pipe) (INJECTED)"
    std::istringstream in(line);
    std::string pid = "?";
    if (line.rfind("[pid", 0) == 0) {
      std::string tag;
      in >> tag >> pid;
      if (!pid.empty() && pid.back() == ']') pid.pop_back();
    } else if (auto* process = peer_.process()) {
      pid = std::to_string(process->pid());  // a single tracee gets no [pid] prefix
    }
    double stamp = 0;
    in >> stamp;
    std::string call;
    std::getline(in >> std::ws, call);
    if (call.size() > 160) call = call.substr(0, 100) + " ... " + call.substr(call.size() - 50);
    bus_.publish(harness_events::syscall_fault_injected, 0, 0,
                 static_cast<std::uint64_t>(std::atol(pid.c_str())),
                 config_.role + " " + config_.kind + " pid " + pid + ": " + call);
  }
}

bool PeerFaults::drain_strace_pipe() {
  if (!strace_pipe_) return false;
  // What strace wrote and nobody has read yet (non-blocking: up to EAGAIN, or EOF once strace
  // is gone).
  const int fd = strace_pipe_->native_handle();
  std::array<char, 4096> buffer;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n > 0) {
      strace_output(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);  // false: EOF or an error
    }
  }
}

void PeerFaults::detach_strace() {
  if (strace_ && strace_->valid()) {
    // strace detaches from every tracee on SIGINT; the tracees run on untouched.
    strace_->stop(2000ms, SIGINT);
  }
  strace_.reset();
  if (strace_pipe_) {
    drain_strace_pipe();
    if (!strace_line_.empty()) strace_output("\n");
    boost::system::error_code ignored;
    strace_pipe_->close(ignored);
    strace_pipe_.reset();
    std::error_code gone;
    fs::remove(config_.run_dir / (strace_log_.stem().string() + ".pipe"), gone);
  }
}

void PeerFaults::disarm() {
  if (disarmed_) return;
  disarmed_ = true;
  *armed_ = false;
  for (const int id : subscriptions_) bus_.unsubscribe(id);
  subscriptions_.clear();
  for (auto& timer : timers_) timer.cancel();
  // A frozen group is thawed first: its graceful stop (and strace's detach) need it running.
  thaw("end of the run");
  detach_strace();
}

std::vector<fs::path> PeerFaults::artefacts() const {
  if (strace_log_.empty()) return {};
  return {strace_log_};
}

}  // namespace fh::runner
