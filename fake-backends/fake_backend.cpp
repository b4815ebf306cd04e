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
