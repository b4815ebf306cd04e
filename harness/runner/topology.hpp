// The parties of one run behind the client: a backend and a gateway (party.hpp), each the
// embedded fake or a real program. Started backend first, stopped gateway first.
#pragma once

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "events/bus.hpp"
#include "runner/party.hpp"
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

  /// Starts the backend, then the gateway pointing at it; returns when both are ready, with
  /// the real programs' faults armed. Real programs are waited for while the io_context keeps
  /// the fakes going. Throws on failure.
  void start();
  /// Runs the run's io_context a moment, between waits on real programs (Ctrl-C checked).
  const std::function<void()>& pump() const { return pump_; }

  Party& gateway() { return *gateway_; }
  Party& backend() { return *backend_; }
  const Party& gateway() const { return *gateway_; }
  const Party& backend() const { return *backend_; }

  /// Disarms the faults of both, then stops the gateway and the backend. Idempotent.
  void stop();
  /// Configs and logs of the real programs (empty for fakes), strace logs included.
  std::vector<std::filesystem::path> artefacts() const;

 private:
  const scenario::Scenario& scenario_;
  boost::asio::io_context& io_;
  events::Bus& bus_;
  std::filesystem::path run_dir_;
  std::function<void()> pump_;
  std::unique_ptr<Party> backend_;
  std::unique_ptr<Party> gateway_;
};

}  // namespace fh::runner
