// Client -> fake gateway -> fake backend on one io_context and one bus: what the fake
// gateway's fault-family tests (fake-gateways/faults/*_test.cpp) drive. Configured as a
// scenario would be, from the families' keys in YAML; every run bounded.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "client/http_client.hpp"
#include "events/bus.hpp"
#include "fake-backends/fake_backend.hpp"
#include "fake-gateways/fake_gateway.hpp"

namespace fh::test_support {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class Chain {
 public:
  using Clock = std::chrono::steady_clock;
  /// The gateway's keys (topology.gateway) and the backend's (topology.backend), as YAML.
  explicit Chain(const std::string& gateway_yaml = "{}", const std::string& backend_yaml = "{}")
      : Chain(fake::gateway_config_from_yaml(gateway_yaml, "gateway"),
              fake::backend_config_from_yaml(backend_yaml, "backend")) {}
  Chain(fake::GatewayConfig config, fake::BackendConfig backend_config) {
    backend_config.bus = &bus;
    backend = std::make_unique<fake::FakeBackend>(io, backend_config);
    backend->start();
    config.backend = backend->address();
    config.bus = &bus;
    gateway = std::make_unique<fake::FakeGateway>(io, config);
    gateway->start();
  }
  ~Chain() {
    gateway->stop();
    backend->stop();
    io.run_for(300ms);  // every coroutine ends once stopped
  }

  // Runs one exchange; `limit` bounds it (a hung response stays pending).
  client::Exchange run(client::RequestSpec spec, std::chrono::milliseconds limit = 5s) {
    client::Exchange x;
    bool done = false;
    asio::co_spawn(io, client::exchange(gateway->address(), std::move(spec), x, &bus, 1),
                   [&](std::exception_ptr) { done = true; });
    const auto deadline = Clock::now() + limit;
    while (!done && Clock::now() < deadline) io.run_one_for(20ms);
    return x;
  }

  // Runs the exchanges in order on one keep-alive client connection; `limit` bounds them all.
  std::vector<client::Exchange> run_on_one_connection(std::vector<client::RequestSpec> specs,
                                                      std::chrono::milliseconds limit = 5s) {
    std::vector<client::Exchange> xs(specs.size());
    std::vector<client::ConnectionRequest> requests;
    for (std::size_t i = 0; i < specs.size(); ++i)
      requests.push_back({std::move(specs[i]), &xs[i], static_cast<std::uint32_t>(i + 1)});
    bool done = false;
    asio::co_spawn(io, client::exchange_connection(gateway->address(), std::move(requests), &bus),
                   [&](std::exception_ptr) { done = true; });
    const auto deadline = Clock::now() + limit;
    while (!done && Clock::now() < deadline) io.run_one_for(20ms);
    return xs;
  }

  std::size_t count(const std::string& event) const {
    return bus.count(events::Selector::parse(event));
  }
  const events::Event* nth(const std::string& event, std::size_t n = 1) const {
    return bus.nth(events::Selector::parse(event), n);
  }
  std::string timeline() const {
    std::string text;
    for (const auto& e : bus.log())
      text += e.party + "." + e.name + " #" + std::to_string(e.request_id) + " v" +
              std::to_string(e.value) + " " + e.detail + "\n";
    return text;
  }

  asio::io_context io;
  events::Bus bus;
  std::unique_ptr<fake::FakeBackend> backend;
  std::unique_ptr<fake::FakeGateway> gateway;
};

inline client::RequestSpec get(std::string target) {
  client::RequestSpec spec;
  spec.target = std::move(target);
  return spec;
}

inline client::RequestSpec post(std::string target, std::size_t size) {
  client::RequestSpec spec;
  spec.method = "POST";
  spec.target = std::move(target);
  spec.body.resize(size);
  for (std::size_t i = 0; i < size; ++i) spec.body[i] = static_cast<char>(i * 7);
  return spec;
}

}  // namespace fh::test_support

/// What the fake gateway's family tests (fake-gateways/faults/*_test.cpp) share.
namespace fh::fake::gateway_family_test {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using client::Exchange;
using client::Outcome;
using test_support::Chain;
using test_support::get;
using test_support::post;
}  // namespace fh::fake::gateway_family_test
