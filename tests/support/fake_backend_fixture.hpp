// The GoogleTest fixture of the fake backend's tests: one backend on an io_context, each test
// body run with a deadline (io.run_for), so a wrong backend fails the test instead of hanging
// it; plus queries on the backend's own log.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string_view>
#include <utility>

#include "events/bus.hpp"
#include "fake-backends/fake_backend.hpp"
#include "tests/support/raw_fcgi_client.hpp"

namespace fh::test_support {

/// A fake backend's configuration from its scenario keys, as a scenario writes them:
/// configured("{record_size: 1000, faults: [{at: params_complete, do: close}]}").
inline fake::BackendConfig configured(const std::string& yaml) {
  return fake::backend_config_from_yaml(yaml, "test");
}

/// An event only tests publish: what a test's own step did ("the body is sent"), for a fault
/// or a stall to wait on.
inline constexpr events::EventDecl kTestStep{
    "harness", "test_step", events::Source::harness, "a step of the test itself", "", ""};

class FakeBackendFixture : public ::testing::Test {
 protected:
  /// Whether start() hands the backend `bus` (BackendConfig::bus): its log is then published
  /// there too, and `bus` faults and stalls `until` an event can fire.
  enum class BusMode { detached, attached };

  explicit FakeBackendFixture(BusMode bus_mode = BusMode::detached) : bus_mode_(bus_mode) {}

  void start(fake::BackendConfig config = {}) {
    if (bus_mode_ == BusMode::attached) config.bus = &bus;
    backend = std::make_unique<fake::FakeBackend>(io, std::move(config));
    backend->start();
  }

  /// Runs `body()` with a deadline, then stops the backend so io.run_for returns.
  template <class F>
  void run(F&& body, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(io, body(), [&](std::exception_ptr e) {
      done = true;
      failure = e;
      backend->stop();
    });
    io.run_for(limit);
    EXPECT_TRUE(done) << "the test coroutine did not finish within " << limit.count() << " ms";
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "test coroutine threw: " << e.what();
      }
    }
  }

  /// How an exchange reads after sending.
  enum class Until { end_request, closed };

  /// The common exchange: connects `c`, sends `bytes`, then reads until request 1's
  /// END_REQUEST or until the backend closes the connection.
  asio::awaitable<void> send_and_read(RawClient& c, fcgi::Bytes bytes,
                                      Until until = Until::end_request) {
    co_await c.connect(backend->address());
    co_await c.send(bytes);
    if (until == Until::end_request) {
      co_await c.read_until_end_request(1);
    } else {
      co_await c.read_until_closed();
    }
  }
  /// send_and_read() as the whole test body, under run()'s deadline.
  void exchange(RawClient& c, fcgi::Bytes bytes, Until until = Until::end_request) {
    run([&]() -> asio::awaitable<void> { co_await send_and_read(c, std::move(bytes), until); });
  }

  std::size_t count(std::string_view what) const {
    return std::count_if(backend->log().begin(), backend->log().end(),
                         [&](const fake::BackendLogEntry& e) { return e.what == what; });
  }
  const fake::BackendLogEntry* find(std::string_view what) const {
    for (const auto& e : backend->log())
      if (e.what == what) return &e;
    return nullptr;
  }

  /// Waits (bounded) until the backend logged `what`: an event, not a guess at a duration.
  asio::awaitable<bool> logged(std::string_view what, std::size_t n = 1) {
    for (int i = 0; i < 2000 && count(what) < n; ++i)
      co_await sleep_for(std::chrono::milliseconds(1));
    co_return count(what) >= n;
  }

  events::Bus bus;      // outlives the backend, which subscribes to it
  asio::io_context io;  // before the backend: the backend goes first
  std::unique_ptr<fake::FakeBackend> backend;

 private:
  BusMode bus_mode_;
};

}  // namespace fh::test_support
