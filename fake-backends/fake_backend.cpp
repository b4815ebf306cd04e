// The fake backend's public face (fake_backend.hpp); its parts are listed there.
#include "fake-backends/fake_backend.hpp"

#include "fake-backends/backend.hpp"

namespace fh::fake {

struct FakeBackend::State : BackendState {
  using BackendState::BackendState;
};

FakeBackend::FakeBackend(asio::io_context& io, BackendConfig config)
    : state_(std::make_shared<State>(io, std::move(config))) {}

FakeBackend::~FakeBackend() {
  stop();
}

void FakeBackend::start() {
  state_->start();
}

net::Address FakeBackend::address() const {
  return state_->bound;
}

void FakeBackend::stop() {
  state_->stop();
}

void FakeBackend::readiness_phase() {
  state_->in_readiness = true;
}

void FakeBackend::begin_scenario() {
  state_->in_readiness = false;
}

std::size_t FakeBackend::readiness_requests_open() const {
  std::size_t open = 0;
  for (const auto& [n, weak] : state_->connections)
    if (auto c = weak.lock())
      for (const auto& [id, r] : c->requests) open += r->readiness ? 1 : 0;
  return open;
}

const std::vector<BackendLogEntry>& FakeBackend::log() const {
  return state_->entries;
}

std::uint32_t FakeBackend::requests_begun() const {
  return state_->begun;
}

std::uint32_t FakeBackend::requests_completed() const {
  return state_->completed;
}

}  // namespace fh::fake
