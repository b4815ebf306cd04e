#include "runner/run_observers.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <map>

#include "events/harness_events.hpp"
#include "observers/tcp_reassembly.hpp"

namespace fh::runner {

namespace fs = std::filesystem;

RunObservers::RunObservers(const scenario::Scenario& scenario, events::Bus& bus, fs::path run_dir)
    : scenario_(scenario), bus_(bus), run_dir_(std::move(run_dir)) {}

RunObservers::~RunObservers() {
  try {
    stop({});
  } catch (const std::exception& e) {
    spdlog::warn("stopping the observers: {}", e.what());
  }
}

std::optional<std::string> RunObservers::missing() const {
  if (!scenario_.observe.gateway_syscalls && !scenario_.observe.backend_syscalls)
    return std::nullopt;
  if (auto why = observers::strace_missing_reason()) return *why + " (needed by observe.syscalls)";
  return std::nullopt;
}

std::vector<Lane> RunObservers::lanes(const Party& gateway, const Party& backend) const {
  const auto who = [](const Party& p, bool syscalls) {
    if (syscalls && p.kind() == scenario::kFakeKind)
      return p.kind() + " (its syscalls by strace on the harness, told apart by socket)";
    return p.kind() + (syscalls ? " (its syscalls by strace)" : "");
  };
  std::vector<Lane> lanes = {{"client", "the harness's HTTP/1.1 client"},
                             {"gateway", who(gateway, scenario_.observe.gateway_syscalls)},
                             {"backend", who(backend, scenario_.observe.backend_syscalls)},
                             {"harness", "readiness, faults fired, observers"}};
  if (scenario_.observe.wire)
    lanes.push_back({"wire", "pcap on lo: the TCP legs, FastCGI and HTTP decoded"});
  return lanes;
}

void RunObservers::start(const Party& gateway, const Party& backend,
                         const std::function<void()>& pump) {
  gateway_address_ = gateway.address();
  backend_address_ = backend.address();
  // A real program observed: strace on its group, unless its syscall faults' strace already
  // traces it (a process has one tracer: that log is its timeline).
  const auto trace_program = [&](const Party& party, bool observed) {
    std::unique_ptr<observers::StraceTimeline> timeline;
    if (!observed || party.trace_target().in_harness || party.faults_strace_log()) return timeline;
    observers::StraceTimeline::Options options;
    options.dir = run_dir_;
    options.stem = party.role() + "-" + party.kind() + "-syscalls";
    timeline = std::make_unique<observers::StraceTimeline>(options);
    try {
      timeline->attach(party.trace_target().pgid, pump);
    } catch (const observers::StraceError& e) {
      throw std::runtime_error("observe.syscalls: " + party.role() + " " + party.kind() + ": " +
                               e.what());
    }
    std::string pids;
    for (const pid_t pid : timeline->pids())
      pids += (pids.empty() ? "" : ",") + std::to_string(pid);
    bus_.publish(events::harness_events::syscalls_observed, 0, 0,
                 static_cast<std::uint64_t>(timeline->tracer_pid()),
                 party.role() + " " + party.kind() + " pids " + pids + " (log " +
                     timeline->log_path().filename().string() + ")");
    return timeline;
  };
  backend_trace_ = trace_program(backend, scenario_.observe.backend_syscalls);
  gateway_trace_ = trace_program(gateway, scenario_.observe.gateway_syscalls);
  // The fakes run in the harness process (with the client, on one thread): strace on it, and
  // the records are told apart by socket when published.
  const bool fake_observed =
      (gateway.trace_target().in_harness && scenario_.observe.gateway_syscalls) ||
      (backend.trace_target().in_harness && scenario_.observe.backend_syscalls);
  if (fake_observed) {
    observers::StraceTimeline::Options options;
    options.dir = run_dir_;
    options.stem = "harness-syscalls";
    harness_trace_ = std::make_unique<observers::StraceTimeline>(options);
    try {
      harness_trace_->attach_processes({::getpid()}, pump);
    } catch (const observers::StraceError& e) {
      throw std::runtime_error("observe.syscalls on a fake: strace on the harness process: " +
                               std::string(e.what()));
    }
    bus_.publish(events::harness_events::syscalls_observed, 0, 0,
                 static_cast<std::uint64_t>(harness_trace_->tracer_pid()),
                 "the fakes in the harness process " + std::to_string(::getpid()) + " (log " +
                     harness_trace_->log_path().filename().string() + ")");
  }
  // The capture starts last, once strace is attached (which takes its time).
  if (scenario_.observe.wire) {
    // Every TCP leg of the run (pcap cannot see unix-socket legs), from before the client's
    // first SYN until the client is done.
    roles_.gateway_port = gateway_address_.port;
    ports_.push_back(roles_.gateway_port);
    if (backend_address_.is_tcp()) {
      roles_.backend_port = backend_address_.port;
      ports_.push_back(roles_.backend_port);
    }
    capture_ = std::make_unique<observers::PcapCapture>();
    try {
      capture_->start(ports_);
    } catch (const observers::CaptureError& e) {
      throw std::runtime_error(std::string("observe: {wire: true}: the capture on lo could not "
                                           "start (it needs root or CAP_NET_RAW): ") +
                               e.what());
    }
  }
}

void RunObservers::stop(
    const std::function<void(std::chrono::steady_clock::time_point)>& run_until) {
  if (capture_ && capture_->running()) {
    // A moment for the segments the client's last read raced with (the backend's FIN).
    if (run_until) run_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(20));
    capture_stats_ = capture_->stop();
  }
  // A faults' strace that doubles as the timeline detaches with the faults: its injections
  // must last as long as the run.
  for (auto* trace : {harness_trace_.get(), gateway_trace_.get(), backend_trace_.get()})
    if (trace) trace->stop();
}

bool RunObservers::publish(const Party& gateway, const Party& backend,
                           std::chrono::steady_clock::time_point steady_origin,
                           std::chrono::system_clock::time_point system_origin) {
  bool published = false;
  if (capture_) {
    observers::Reassembler tcp(ports_);
    tcp.add_all(capture_->packets(), capture_->linktype());
    observers::WireDecoder decoder(roles_);
    decoder.decode(tcp);
    decoder.publish_to(bus_, steady_origin, system_origin);
    if (capture_stats_) observers::publish_capture_stats(bus_, *capture_stats_);
    published = true;
  }
  std::map<std::string, std::vector<observers::SyscallRecord>> fakes;
  if (harness_trace_) {
    observers::HarnessSockets sockets;
    sockets.gateway_port = gateway_address_.port;
    if (backend_address_.is_tcp())
      sockets.backend_port = backend_address_.port;
    else
      sockets.backend_path = backend_address_.path;
    fakes = observers::split_harness_records(harness_trace_->records(), sockets);
  }
  const auto publish_party = [&](const Party& party, bool observed,
                                 const observers::StraceTimeline* trace) {
    if (!observed) return;
    std::vector<observers::SyscallRecord> records;
    if (trace)
      records = trace->records();
    else if (auto log = party.faults_strace_log())
      records = observers::read_strace_log(*log);
    else if (harness_trace_)
      records = fakes[party.role()];
    observers::publish_records(records, bus_, party.role(), steady_origin, system_origin);
    published = true;
  };
  publish_party(gateway, scenario_.observe.gateway_syscalls, gateway_trace_.get());
  publish_party(backend, scenario_.observe.backend_syscalls, backend_trace_.get());
  return published;
}

std::optional<std::string> RunObservers::capture_losses() const {
  if (!capture_stats_ || !capture_stats_->lost_packets()) return std::nullopt;
  return capture_stats_->to_string();
}

void RunObservers::save_capture(const fs::path& path) {
  if (!capture_) return;
  if (capture_->running()) capture_stats_ = capture_->stop();
  capture_->save_pcapng(path.string());
}

std::vector<fs::path> RunObservers::artefacts() const {
  std::vector<fs::path> out;
  for (const auto* trace : {gateway_trace_.get(), backend_trace_.get(), harness_trace_.get()})
    if (trace) {
      out.push_back(trace->log_path());
      auto errors = trace->log_path();
      out.push_back(errors.replace_extension(".err"));
    }
  return out;
}

}  // namespace fh::runner
