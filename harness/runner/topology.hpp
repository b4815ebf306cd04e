// The parties of one run behind the client: a backend and a gateway, each the embedded fake or
// a real program (an adapter from harness/peers). Started backend first, stopped gateway first.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "events/bus.hpp"
#include "fake-backends/fake_backend.hpp"
#include "fake-gateways/fake_gateway.hpp"
#include "observers/strace_timeline.hpp"
#include "peers/peer.hpp"
#include "runner/process_faults.hpp"
#include "scenario/model.hpp"

namespace fh::runner {

class Topology {
 public:
  Topology(const scenario::Scenario& scenario, boost::asio::io_context& io, events::Bus& bus,
           std::filesystem::path run_dir);
  ~Topology();
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  /// Why the scenario cannot run here (a real program is not installed, with the apt package
  /// to install), checked before anything starts; nullopt when everything is available.
  std::optional<std::string> missing() const;

  /// Starts the backend, then the gateway; returns when both are ready. Real programs are
  /// waited for while the io_context keeps the fakes going. Throws on failure.
  void start();
  net::Address gateway_address() const;
  /// Where the gateway reaches the backend (TCP on loopback or a unix socket); after start().
  net::Address backend_address() const { return backend_address_; }

  /// Stops the gateway, then the backend: fakes close their sockets (their coroutines end once
  /// the io_context runs), real programs are stopped and reaped. Idempotent.
  void stop();

  /// Configs and logs of the real programs (empty for fakes), strace logs included.
  std::vector<std::filesystem::path> artefacts() const;

  /// Detaches strace from the observed programs (observe.syscalls) so the teardown's own
  /// syscalls stay off the timeline; stop() does it too. Idempotent.
  void stop_syscall_observers();
  /// After stop(): every observed program's syscalls published as events of its role
  /// (`gateway.syscall:writev`, ...) on the run's clock. Returns how many.
  std::size_t publish_syscalls(std::chrono::steady_clock::time_point steady_origin,
                               std::chrono::system_clock::time_point system_origin);
  /// "nginx (strace)", "fake": who is behind a lane, for the timeline's legend.
  std::string describe_role(const std::string& role) const;

 private:
  const scenario::Scenario& scenario_;
  boost::asio::io_context& io_;
  events::Bus& bus_;
  std::filesystem::path run_dir_;
  net::Address backend_address_;
  std::unique_ptr<fake::FakeBackend> fake_backend_;
  std::unique_ptr<peers::Peer> real_backend_;
  std::unique_ptr<fake::FakeGateway> fake_gateway_;
  std::unique_ptr<peers::Peer> real_gateway_;
  // Process and syscall faults on the real programs; armed once both are ready.
  std::unique_ptr<PeerFaults> backend_faults_;
  std::unique_ptr<PeerFaults> gateway_faults_;
  // observe.syscalls: a timeline of its own, or the syscall faults' strace when the peer has
  // both (one tracer per process).
  std::unique_ptr<observers::StraceTimeline> backend_syscalls_;
  std::unique_ptr<observers::StraceTimeline> gateway_syscalls_;
  // observe.syscalls on a fake: the harness process traced, its records split by socket.
  std::unique_ptr<observers::StraceTimeline> harness_syscalls_;
};

}  // namespace fh::runner
