#include "runner/topology.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "runner/interrupt.hpp"

namespace fh::runner {

Topology::Topology(const scenario::Scenario& scenario, boost::asio::io_context& io,
                   events::Bus& bus, std::filesystem::path run_dir)
    : scenario_(scenario),
      io_(io),
      bus_(bus),
      run_dir_(std::move(run_dir)),
      backend_(make_backend_party(scenario)),
      gateway_(make_gateway_party(scenario)) {
  // Real programs are waited for with the io_context pumped, so fakes keep serving meanwhile.
  pump_ = [this] {
    throw_if_interrupted();  // a Ctrl-C while a real program starts
    io_.restart();
    io_.run_for(std::chrono::milliseconds(2));
  };
}

Topology::~Topology() {
  stop();
}

std::optional<std::string> Topology::missing() const {
  std::string reasons;
  for (const auto* party : {backend_.get(), gateway_.get()})
    if (auto why = party->missing()) reasons += (reasons.empty() ? "" : "; ") + *why;
  if (reasons.empty()) return std::nullopt;
  return reasons;
}

void Topology::start() {
  // Apache's children run as nobody: they must be able to reach sockets in the run folder.
  ::chmod(run_dir_.c_str(), 0755);
  const bool unix_backend =
      scenario_.backend.transport == scenario::BackendDef::Transport::unix_socket;
  Party::StartContext backend_context{
      io_,
      bus_,
      run_dir_,
      pump_,
      unix_backend ? net::Address::unix_socket((run_dir_ / "backend.sock").string())
                   : net::Address::tcp("127.0.0.1", 0),
      {},
      {}};
  backend_->start(backend_context);
  const auto backend_address = backend_->address();
  if (unix_backend) ::chmod(backend_address.path.c_str(), 0666);
  Party::StartContext gateway_context{io_,
                                      bus_,
                                      run_dir_,
                                      pump_,
                                      net::Address::tcp("127.0.0.1", 0),
                                      backend_address,
                                      backend_->document_root(run_dir_)};
  gateway_->start(gateway_context);
  backend_->begin_scenario(pump_);
  gateway_->begin_scenario(pump_);
  // Faults are armed after readiness, so the readiness requests neither trip nor count them.
  backend_->arm_faults(pump_);
  gateway_->arm_faults(pump_);
  io_.restart();
  spdlog::debug("{}: backend {} ({}) gateway {} ({})", scenario_.display_name(),
                backend_address.to_string(), backend_->kind(), gateway_->address().to_string(),
                gateway_->kind());
}

void Topology::stop() {
  // Thaw frozen groups and detach strace before the programs' own graceful stop.
  gateway_->disarm_faults();
  backend_->disarm_faults();
  gateway_->stop();
  backend_->stop();
}

std::vector<std::filesystem::path> Topology::artefacts() const {
  std::vector<std::filesystem::path> out;
  for (const auto* party : {gateway_.get(), backend_.get()})
    for (auto& p : party->artefacts()) out.push_back(p);
  return out;
}

}  // namespace fh::runner
