#include "runner/party.hpp"

#include <sys/stat.h>

#include "events/harness_events.hpp"
#include "fake-backends/fake_backend.hpp"
#include "fake-gateways/fake_gateway.hpp"
#include "peers/backends.hpp"
#include "peers/gateways.hpp"
#include "peers/generic.hpp"
#include "runner/process_faults.hpp"

namespace fh::runner {

namespace {

namespace fs = std::filesystem;

const std::string kBackend = "backend";
const std::string kGateway = "gateway";

/// The embedded fakes run in the harness process, on the run's io_context.
class FakeBackendParty : public Party {
 public:
  explicit FakeBackendParty(const scenario::BackendDef& def) : def_(def) {}
  const std::string& role() const override { return kBackend; }
  const std::string& kind() const override { return def_.kind; }
  std::optional<std::string> missing() const override { return std::nullopt; }
  void start(const StartContext& c) override {
    fake::BackendConfig config = def_.fake;
    config.listen = c.listen;
    config.bus = &c.bus;
    backend_ = std::make_unique<fake::FakeBackend>(c.io, config);
    backend_->readiness_phase();  // a real gateway's readiness requests are not the scenario's
    backend_->start();
  }
  void begin_scenario(const std::function<void()>& pump) override {
    // The readiness answers finish first (bounded), so none of them runs into the scenario
    // or its capture.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (backend_->readiness_requests_open() > 0 && std::chrono::steady_clock::now() < until)
      pump();
    backend_->begin_scenario();
  }
  net::Address address() const override { return backend_->address(); }
  fs::path document_root(const fs::path& run_dir) const override { return run_dir / "docroot"; }
  void arm_faults(const std::function<void()>&) override {}
  void disarm_faults() override {}
  TraceTarget trace_target() const override { return {0, true}; }
  std::optional<fs::path> faults_strace_log() const override { return std::nullopt; }
  void stop() override {
    if (backend_) backend_->stop();
  }
  std::vector<fs::path> artefacts() const override { return {}; }

 private:
  const scenario::BackendDef& def_;
  std::unique_ptr<fake::FakeBackend> backend_;
};

class FakeGatewayParty : public Party {
 public:
  explicit FakeGatewayParty(const scenario::GatewayDef& def) : def_(def) {}
  const std::string& role() const override { return kGateway; }
  const std::string& kind() const override { return def_.kind; }
  std::optional<std::string> missing() const override { return std::nullopt; }
  void start(const StartContext& c) override {
    fake::GatewayConfig config = def_.fake;
    config.listen = net::Address::tcp("127.0.0.1", 0);
    config.backend = c.upstream;
    config.document_root = c.document_root.string();
    config.bus = &c.bus;
    gateway_ = std::make_unique<fake::FakeGateway>(c.io, config);
    gateway_->start();
  }
  net::Address address() const override { return gateway_->address(); }
  fs::path document_root(const fs::path&) const override { return {}; }
  void begin_scenario(const std::function<void()>&) override {}
  void arm_faults(const std::function<void()>&) override {}
  void disarm_faults() override {}
  TraceTarget trace_target() const override { return {0, true}; }
  std::optional<fs::path> faults_strace_log() const override { return std::nullopt; }
  void stop() override {
    if (gateway_) gateway_->stop();
  }
  std::vector<fs::path> artefacts() const override { return {}; }

 private:
  const scenario::GatewayDef& def_;
  std::unique_ptr<fake::FakeGateway> gateway_;
};

/// A backend that is already running (certify backend --connect): no process of ours, ready
/// when a plain request gets a complete answer.
class ExternalBackendParty : public Party {
 public:
  explicit ExternalBackendParty(const scenario::BackendDef& def) : def_(def) {}
  const std::string& role() const override { return kBackend; }
  const std::string& kind() const override { return def_.kind; }
  std::optional<std::string> missing() const override { return std::nullopt; }
  void start(const StartContext& c) override {
    const auto& address = *def_.external_address;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::string last = "refused";
    while (std::chrono::steady_clock::now() < deadline) {
      const auto r =
          peers::fcgi_exchange(address, peers::FcgiRequest{}, std::chrono::seconds(2), c.pump);
      if (r.ended && r.error.empty()) return;
      if (r.bytes_received > 0)
        throw PartyNotReady(kBackend,
                            "the backend at " + address.to_string() +
                                " answered a plain GET wrongly: " + peers::wrong_answer(r));
      last = r.error;
      c.pump();
    }
    throw PartyNotReady(kBackend,
                        "the backend at " + address.to_string() + " did not answer: " + last);
  }
  net::Address address() const override { return *def_.external_address; }
  fs::path document_root(const fs::path& run_dir) const override { return run_dir / "docroot"; }
  void begin_scenario(const std::function<void()>&) override {}
  void arm_faults(const std::function<void()>&) override {}
  void disarm_faults() override {}
  TraceTarget trace_target() const override {
    throw std::runtime_error("backend external: not a process of the harness's to trace");
  }
  std::optional<fs::path> faults_strace_log() const override { return std::nullopt; }
  void stop() override {}
  std::vector<fs::path> artefacts() const override { return {}; }

 private:
  const scenario::BackendDef& def_;
};

peers::PeerInfo info_of(const std::string& kind, bool gateway) {
  if (kind == "command") {
    peers::PeerInfo info;
    info.kind = kind;
    info.installed = true;
    return info;
  }
  return gateway ? peers::gateway_info(kind) : peers::backend_info(kind);
}

/// A real program: an adapter of peers/ (or the generic command one), with its process and
/// syscall faults.
template <class Def>
class RealParty : public Party {
 public:
  RealParty(const Def& def, const std::string& role, bool observed)
      : def_(def), role_(role), observed_(observed) {}
  const std::string& role() const override { return role_; }
  const std::string& kind() const override { return def_.kind; }

  std::optional<std::string> missing() const override {
    const auto info = info_of(def_.kind, role_ == kGateway);
    if (!info.installed) return role_ + " " + def_.kind + ": " + info.missing_reason;
    if (!def_.syscall_faults.empty())
      if (auto why = strace_missing()) return *why;
    return std::nullopt;
  }

  void start(const StartContext& c) override {
    peers::PeerOptions options;
    options.run_dir = c.run_dir;
    options.listen = c.listen;
    options.upstream = c.upstream;
    options.knobs = def_.knobs;
    options.pump = c.pump;
    io_ = &c.io;
    bus_ = &c.bus;
    run_dir_ = c.run_dir;
    if (role_ == kBackend) {
      if (def_.kind == "command") {
        peer_ = peers::make_generic_backend(options);
      } else {
        auto backend = peers::make_backend(def_.kind, options);
        document_root_ = backend->document_root();
        peer_ = std::move(backend);
      }
    } else {
      peer_ = def_.kind == "command" ? peers::make_generic_gateway(options)
                                     : peers::make_gateway(def_.kind, options);
    }
    try {
      peer_->start();
    } catch (const peers::NotReady& e) {
      throw PartyNotReady(role_, e.what());  // a definite wrong answer: the party's own
    }
    c.bus.publish(role_ == kBackend ? events::harness_events::backend_ready
                                    : events::harness_events::gateway_ready,
                  0, 0, 0, def_.kind + " " + peer_->address().to_string());
  }

  net::Address address() const override { return peer_->address(); }
  fs::path document_root(const fs::path& run_dir) const override {
    return document_root_.empty() ? run_dir / "docroot" : document_root_;
  }
  void begin_scenario(const std::function<void()>&) override {}

  void arm_faults(const std::function<void()>& pump) override {
    if (def_.process_faults.empty() && def_.syscall_faults.empty()) return;
    faults_ = std::make_unique<PeerFaults>(
        *io_, *bus_, *peer_,
        PeerFaults::Config{role_, def_.kind, def_.knobs, def_.process_faults, def_.syscall_faults,
                           run_dir_, observed_});
    faults_->arm(pump);
  }
  void disarm_faults() override {
    if (faults_) faults_->disarm();
  }

  TraceTarget trace_target() const override {
    auto* process = peer_ ? peer_->process() : nullptr;
    if (!process || !process->valid())
      throw std::runtime_error(role_ + " " + def_.kind + ": no process to trace");
    return {process->pgid(), false};
  }
  std::optional<fs::path> faults_strace_log() const override {
    if (!faults_ || faults_->strace_log().empty()) return std::nullopt;
    return faults_->strace_log();
  }

  void stop() override {
    // Thaw frozen groups and detach strace before the program's own graceful stop.
    disarm_faults();
    if (!peer_) return;
    peer_->stop();
    // What the program did at its teardown, for the checks and the timeline.
    const auto* process = peer_->process();
    if (!process || !bus_) return;
    const std::string who = role_ + " " + def_.kind;
    if (process->stop_was_forced())
      bus_->publish(events::harness_events::peer_stop_forced, 0, 0, 0,
                    who + ": it did not exit on its stop signal");
    if (process->escaped_processes() > 0)
      bus_->publish(events::harness_events::peer_escaped, 0, 0, process->escaped_processes(),
                    who + ": " + std::to_string(process->escaped_processes()) +
                        " process(es) outside its group");
  }

  std::vector<fs::path> artefacts() const override {
    std::vector<fs::path> out;
    if (peer_) out = peer_->artefacts();
    if (faults_)
      for (auto& p : faults_->artefacts()) out.push_back(p);
    return out;
  }

 private:
  const Def& def_;
  std::string role_;
  bool observed_;  // observe.syscalls names this party: its faults' strace doubles as it
  boost::asio::io_context* io_ = nullptr;
  events::Bus* bus_ = nullptr;
  fs::path run_dir_;
  fs::path document_root_;
  std::unique_ptr<peers::Peer> peer_;
  std::unique_ptr<PeerFaults> faults_;
};

}  // namespace

std::unique_ptr<Party> make_backend_party(const scenario::Scenario& s) {
  if (s.backend.is_fake()) return std::make_unique<FakeBackendParty>(s.backend);
  if (s.backend.kind == scenario::kExternalKind)
    return std::make_unique<ExternalBackendParty>(s.backend);
  return std::make_unique<RealParty<scenario::BackendDef>>(s.backend, kBackend,
                                                           s.observe.backend_syscalls);
}

std::unique_ptr<Party> make_gateway_party(const scenario::Scenario& s) {
  if (s.gateway.is_fake()) return std::make_unique<FakeGatewayParty>(s.gateway);
  return std::make_unique<RealParty<scenario::GatewayDef>>(s.gateway, kGateway,
                                                           s.observe.gateway_syscalls);
}

}  // namespace fh::runner
