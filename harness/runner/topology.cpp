#include "runner/topology.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "peers/backends.hpp"
#include "peers/gateways.hpp"
#include "peers/generic.hpp"
#include "runner/interrupt.hpp"

namespace fh::runner {

namespace {

peers::PeerInfo info_of(const std::string& kind, bool gateway) {
  if (kind == "command") {
    peers::PeerInfo info;
    info.kind = kind;
    info.installed = true;
    return info;
  }
  return gateway ? peers::gateway_info(kind) : peers::backend_info(kind);
}

}  // namespace

Topology::Topology(const scenario::Scenario& scenario, boost::asio::io_context& io,
                   events::Bus& bus, std::filesystem::path run_dir)
    : scenario_(scenario), io_(io), bus_(bus), run_dir_(std::move(run_dir)) {}

Topology::~Topology() {
  stop();
}

std::optional<std::string> Topology::missing() const {
  std::string reasons;
  if (!scenario_.backend.is_fake()) {
    auto info = info_of(scenario_.backend.kind, false);
    if (!info.installed)
      reasons += "backend " + scenario_.backend.kind + ": " + info.missing_reason;
  }
  if (!scenario_.gateway.is_fake()) {
    auto info = info_of(scenario_.gateway.kind, true);
    if (!info.installed)
      reasons += (reasons.empty() ? "" : "; ") + std::string("gateway ") + scenario_.gateway.kind +
                 ": " + info.missing_reason;
  }
  const bool strace_needed =
      (!scenario_.backend.is_fake() && !scenario_.backend.syscall_faults.empty()) ||
      (!scenario_.gateway.is_fake() && !scenario_.gateway.syscall_faults.empty());
  if (strace_needed) {
    if (auto why = strace_missing()) reasons += (reasons.empty() ? "" : "; ") + *why;
  } else if (scenario_.observe.gateway_syscalls || scenario_.observe.backend_syscalls) {
    if (auto why = observers::strace_missing_reason())
      reasons += (reasons.empty() ? "" : "; ") + *why + " (needed by observe.syscalls)";
  }
  if (reasons.empty()) return std::nullopt;
  return reasons;
}

void Topology::start() {
  // Real programs are waited for with the io_context pumped, so fakes keep serving meanwhile.
  auto pump = [this] {
    throw_if_interrupted();  // a Ctrl-C while a real program starts
    io_.restart();
    io_.run_for(std::chrono::milliseconds(2));
  };
  // Apache's children run as nobody: they must be able to reach sockets in the run folder.
  ::chmod(run_dir_.c_str(), 0755);
  const bool unix_backend =
      scenario_.backend.transport == scenario::BackendDef::Transport::unix_socket;
  const auto backend_listen = unix_backend
                                  ? net::Address::unix_socket((run_dir_ / "backend.sock").string())
                                  : net::Address::tcp("127.0.0.1", 0);
  net::Address backend_address;
  std::filesystem::path document_root = run_dir_ / "docroot";
  if (scenario_.backend.is_fake()) {
    fake::BackendConfig config = scenario_.backend.fake;
    config.listen = backend_listen;
    config.bus = &bus_;
    fake_backend_ = std::make_unique<fake::FakeBackend>(io_, config);
    fake_backend_->start();
    backend_address = fake_backend_->address();
  } else {
    peers::PeerOptions options;
    options.run_dir = run_dir_;
    options.listen = backend_listen;
    options.knobs = scenario_.backend.knobs;
    options.pump = pump;
    if (scenario_.backend.kind == "command") {
      real_backend_ = peers::make_generic_backend(options);
    } else {
      auto backend = peers::make_backend(scenario_.backend.kind, options);
      document_root = backend->document_root();
      real_backend_ = std::move(backend);
    }
    real_backend_->start();
    backend_address = real_backend_->address();
    bus_.publish("harness", "backend_ready", 0, 0, 0,
                 scenario_.backend.kind + " " + backend_address.to_string());
  }
  if (unix_backend) ::chmod(backend_address.path.c_str(), 0666);
  backend_address_ = backend_address;

  if (scenario_.gateway.is_fake()) {
    fake::GatewayConfig config = scenario_.gateway.fake;
    config.listen = net::Address::tcp("127.0.0.1", 0);
    config.backend = backend_address;
    config.document_root = document_root.string();
    config.bus = &bus_;
    fake_gateway_ = std::make_unique<fake::FakeGateway>(io_, config);
    fake_gateway_->start();
  } else {
    peers::PeerOptions options;
    options.run_dir = run_dir_;
    options.listen = net::Address::tcp("127.0.0.1", 0);
    options.upstream = backend_address;
    options.knobs = scenario_.gateway.knobs;
    options.pump = pump;
    real_gateway_ = scenario_.gateway.kind == "command"
                        ? peers::make_generic_gateway(options)
                        : peers::make_gateway(scenario_.gateway.kind, options);
    real_gateway_->start();
    bus_.publish("harness", "gateway_ready", 0, 0, 0,
                 scenario_.gateway.kind + " " + real_gateway_->address().to_string());
  }
  // Faults are armed after readiness, so the readiness requests neither trip nor count them.
  auto faults_of = [&](const auto& def, const char* role, peers::Peer* peer, bool observed) {
    std::unique_ptr<PeerFaults> faults;
    if (peer && (!def.process_faults.empty() || !def.syscall_faults.empty())) {
      faults = std::make_unique<PeerFaults>(
          io_, bus_, *peer,
          PeerFaults::Config{role, def.kind, def.knobs, def.process_faults, def.syscall_faults,
                             run_dir_, observed});
      faults->arm(pump);
    }
    return faults;
  };
  backend_faults_ = faults_of(scenario_.backend, "backend", real_backend_.get(),
                              scenario_.observe.backend_syscalls);
  gateway_faults_ = faults_of(scenario_.gateway, "gateway", real_gateway_.get(),
                              scenario_.observe.gateway_syscalls);
  // The syscall timeline, like the faults, starts after readiness: the readiness requests
  // are not the scenario's.
  auto observe = [&](const auto& def, const char* role, peers::Peer* peer, bool observed) {
    std::unique_ptr<observers::StraceTimeline> timeline;
    if (!peer || !observed || !def.syscall_faults.empty()) return timeline;
    auto* process = peer->process();
    if (!process || !process->valid())
      throw std::runtime_error(std::string(role) + " " + def.kind + ": no process to trace");
    observers::StraceTimeline::Options options;
    options.dir = run_dir_;
    options.stem = std::string(role) + "-" + def.kind + "-syscalls";
    timeline = std::make_unique<observers::StraceTimeline>(options);
    try {
      timeline->attach(process->pgid(), pump);
    } catch (const observers::StraceError& e) {
      throw std::runtime_error("observe.syscalls: " + std::string(role) + " " + def.kind + ": " +
                               e.what());
    }
    std::string pids;
    for (const pid_t pid : timeline->pids())
      pids += (pids.empty() ? "" : ",") + std::to_string(pid);
    bus_.publish("harness", "syscalls_observed", 0, 0,
                 static_cast<std::uint64_t>(timeline->tracer_pid()),
                 std::string(role) + " " + def.kind + " pids " + pids + " (log " +
                     timeline->log_path().filename().string() + ")");
    return timeline;
  };
  backend_syscalls_ = observe(scenario_.backend, "backend", real_backend_.get(),
                              scenario_.observe.backend_syscalls);
  gateway_syscalls_ = observe(scenario_.gateway, "gateway", real_gateway_.get(),
                              scenario_.observe.gateway_syscalls);
  // The fakes run in the harness process (with the client, on one thread): strace on it, and
  // the records are told apart by socket when published.
  if ((fake_gateway_ && scenario_.observe.gateway_syscalls) ||
      (fake_backend_ && scenario_.observe.backend_syscalls)) {
    observers::StraceTimeline::Options options;
    options.dir = run_dir_;
    options.stem = "harness-syscalls";
    harness_syscalls_ = std::make_unique<observers::StraceTimeline>(options);
    try {
      harness_syscalls_->attach_processes({::getpid()}, pump);
    } catch (const observers::StraceError& e) {
      throw std::runtime_error("observe.syscalls on a fake: strace on the harness process: " +
                               std::string(e.what()));
    }
    bus_.publish("harness", "syscalls_observed", 0, 0,
                 static_cast<std::uint64_t>(harness_syscalls_->tracer_pid()),
                 "the fakes in the harness process " + std::to_string(::getpid()) + " (log " +
                     harness_syscalls_->log_path().filename().string() + ")");
  }
  io_.restart();
  spdlog::debug("{}: backend {} ({}) gateway {} ({})", scenario_.display_name(),
                backend_address.to_string(), scenario_.backend.kind, gateway_address().to_string(),
                scenario_.gateway.kind);
}

net::Address Topology::gateway_address() const {
  return fake_gateway_ ? fake_gateway_->address() : real_gateway_->address();
}

void Topology::stop_syscall_observers() {
  if (harness_syscalls_) harness_syscalls_->stop();
  if (gateway_syscalls_) gateway_syscalls_->stop();
  if (backend_syscalls_) backend_syscalls_->stop();
  // A faults' strace that doubles as the timeline detaches with the faults (stop()): its
  // injections must last as long as the run.
}

std::size_t Topology::publish_syscalls(std::chrono::steady_clock::time_point steady_origin,
                                       std::chrono::system_clock::time_point system_origin) {
  std::size_t published = 0;
  std::map<std::string, std::vector<observers::SyscallRecord>> fakes;
  if (harness_syscalls_) {
    observers::HarnessSockets sockets;
    sockets.gateway_port = gateway_address().port;
    if (backend_address_.is_tcp())
      sockets.backend_port = backend_address_.port;
    else
      sockets.backend_path = backend_address_.path;
    fakes = observers::split_harness_records(harness_syscalls_->records(), sockets);
  }
  const auto publish = [&](const char* role, bool observed, const PeerFaults* faults,
                           const observers::StraceTimeline* timeline) {
    if (!observed) return;
    std::vector<observers::SyscallRecord> records;
    if (timeline)
      records = timeline->records();
    else if (faults && !faults->strace_log().empty())
      records = observers::read_strace_log(faults->strace_log());
    else if (harness_syscalls_)
      records = fakes[role];
    published += observers::publish_records(records, bus_, role, steady_origin, system_origin);
  };
  publish("gateway", scenario_.observe.gateway_syscalls, gateway_faults_.get(),
          gateway_syscalls_.get());
  publish("backend", scenario_.observe.backend_syscalls, backend_faults_.get(),
          backend_syscalls_.get());
  return published;
}

std::string Topology::describe_role(const std::string& role) const {
  const bool gateway = role == "gateway";
  const auto& kind = gateway ? scenario_.gateway.kind : scenario_.backend.kind;
  const bool syscalls =
      gateway ? scenario_.observe.gateway_syscalls : scenario_.observe.backend_syscalls;
  if (syscalls && kind == scenario::kFakeKind)
    return kind + " (its syscalls by strace on the harness, told apart by socket)";
  return kind + (syscalls ? " (its syscalls by strace)" : "");
}

void Topology::stop() {
  stop_syscall_observers();
  // Thaw frozen groups and detach strace before the programs' own graceful stop.
  if (gateway_faults_) gateway_faults_->disarm();
  if (backend_faults_) backend_faults_->disarm();
  if (fake_gateway_) fake_gateway_->stop();
  if (real_gateway_) real_gateway_->stop();
  if (fake_backend_) fake_backend_->stop();
  if (real_backend_) real_backend_->stop();
}

std::vector<std::filesystem::path> Topology::artefacts() const {
  std::vector<std::filesystem::path> out;
  for (const auto* peer : {real_gateway_.get(), real_backend_.get()})
    if (peer)
      for (auto& p : peer->artefacts()) out.push_back(p);
  for (const auto* faults : {gateway_faults_.get(), backend_faults_.get()})
    if (faults)
      for (auto& p : faults->artefacts()) out.push_back(p);
  for (const auto* timeline :
       {gateway_syscalls_.get(), backend_syscalls_.get(), harness_syscalls_.get()})
    if (timeline) {
      out.push_back(timeline->log_path());
      auto errors = timeline->log_path();
      out.push_back(errors.replace_extension(".err"));
    }
  return out;
}

}  // namespace fh::runner
