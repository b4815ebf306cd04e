// The fake gateway's fault vocabulary and personalities against the fake backend, observed
// through the run's event bus (deterministic: faults act at events, not after sleeps).
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>

#include "client/http_client.hpp"
#include "codec/fcgi.hpp"
#include "events/bus.hpp"
#include "fake-backends/fake_backend.hpp"
#include "fake-gateways/fake_gateway.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using fh::client::Exchange;
using fh::client::Outcome;
using fh::client::RequestSpec;
using fh::events::Selector;
using fh::fake::GatewayConfig;
using Clock = std::chrono::steady_clock;

fh::fake::BackendFault fault(fh::fake::BackendEvent at, fh::fake::BackendAction action) {
  fh::fake::BackendFault f;
  f.at = at;
  f.action = action;
  return f;
}

// Client -> fake gateway -> fake backend on one io_context and one bus.
struct Chain {
  explicit Chain(GatewayConfig config, fh::fake::BackendConfig backend_config = {}) {
    backend_config.bus = &bus;
    backend = std::make_unique<fh::fake::FakeBackend>(io, backend_config);
    backend->start();
    config.backend = backend->address();
    config.bus = &bus;
    gateway = std::make_unique<fh::fake::FakeGateway>(io, config);
    gateway->start();
  }
  ~Chain() {
    gateway->stop();
    backend->stop();
    io.run_for(300ms);  // every coroutine ends once stopped
  }

  // Runs one exchange; `limit` bounds it (a hung response stays pending).
  Exchange run(RequestSpec spec, std::chrono::milliseconds limit = 5s) {
    Exchange x;
    bool done = false;
    asio::co_spawn(io, fh::client::exchange(gateway->address(), std::move(spec), x, &bus, 1),
                   [&](std::exception_ptr) { done = true; });
    const auto deadline = Clock::now() + limit;
    while (!done && Clock::now() < deadline) io.run_one_for(20ms);
    return x;
  }

  std::size_t count(const std::string& event) const { return bus.count(Selector::parse(event)); }
  const fh::events::Event* nth(const std::string& event, std::size_t n = 1) const {
    return bus.nth(Selector::parse(event), n);
  }
  std::string timeline() const {
    std::string text;
    for (const auto& e : bus.log())
      text += e.party + "." + e.name + " #" + std::to_string(e.request_id) + " v" +
              std::to_string(e.value) + " " + e.detail + "\n";
    return text;
  }

  asio::io_context io;
  fh::events::Bus bus;
  std::unique_ptr<fh::fake::FakeBackend> backend;
  std::unique_ptr<fh::fake::FakeGateway> gateway;
};

RequestSpec get(std::string target) {
  RequestSpec spec;
  spec.target = std::move(target);
  return spec;
}

RequestSpec post(std::string target, std::size_t size) {
  RequestSpec spec;
  spec.method = "POST";
  spec.target = std::move(target);
  spec.body.resize(size);
  for (std::size_t i = 0; i < size; ++i) spec.body[i] = static_cast<char>(i * 7);
  return spec;
}

GatewayConfig with(fh::fake::Personality personality) {
  GatewayConfig config;
  config.personality = personality;
  fh::fake::apply_personality_defaults(config);
  return config;
}

// ------------------------------------------------------------------ personalities

TEST(gateway_personality, NginxSmallRequestInOneWrite) {
  Chain chain(with(fh::fake::Personality::nginx));
  auto x = chain.run(post("/probe?echo=1", 100));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_bytes, 100u);
  // BEGIN_REQUEST + PARAMS + STDIN + empty STDIN: one write.
  EXPECT_EQ(chain.count("gateway.backend_bytes_written"), 1u) << chain.timeline();
  const auto* write = chain.nth("gateway.backend_bytes_written");
  ASSERT_TRUE(write);
  EXPECT_EQ(write->value % 8, 0u) << "records padded to 8";
  EXPECT_EQ(chain.count("gateway.stdin_terminator_sent"), 1u);
}

TEST(gateway_personality, ApacheSendsTheEmptyStdinSeparately) {
  Chain chain(with(fh::fake::Personality::apache));
  auto x = chain.run(get("/probe?size=10"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  // BEGIN_REQUEST, then PARAMS, then the empty STDIN (seed 001).
  EXPECT_EQ(chain.count("gateway.backend_bytes_written"), 3u) << chain.timeline();
  const auto* last = chain.nth("gateway.backend_bytes_written", 3);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->value, 8u) << "the terminator alone";
}

TEST(gateway_personality, HaproxyKeepsTheConnectionWithOddRequestIds) {
  Chain chain(with(fh::fake::Personality::haproxy));
  auto first = chain.run(get("/probe?size=10"));
  auto second = chain.run(get("/probe?size=20"));
  EXPECT_EQ(first.outcome, Outcome::complete) << first.summary();
  EXPECT_EQ(second.outcome, Outcome::complete) << second.summary();
  EXPECT_EQ(second.body_bytes, 20u);
  ASSERT_EQ(chain.count("gateway.end_request_received"), 2u) << chain.timeline();
  EXPECT_EQ(chain.nth("gateway.end_request_received", 1)->request_id, 1);
  EXPECT_EQ(chain.nth("gateway.end_request_received", 2)->request_id, 3);
  EXPECT_EQ(chain.count("gateway.backend_connection_reused"), 1u) << chain.timeline();
  EXPECT_EQ(chain.count("backend.accepted"), 1u) << chain.timeline();
}

// ------------------------------------------------------------------ STDIN terminator

TEST(gateway_stdin_terminator, MissingMeansTheBackendWaits) {
  GatewayConfig config;
  config.stdin_terminator.count = 0;
  config.backend_timeout_ms = 300;
  Chain chain(config);
  auto x = chain.run(post("/probe?echo=1", 10));
  EXPECT_EQ(x.status, 504) << x.summary() << chain.timeline();
  EXPECT_EQ(chain.count("gateway.stdin_terminator_sent"), 0u);
  EXPECT_EQ(chain.count("gateway.stdin_terminator_withheld"), 1u);
}

TEST(gateway_stdin_terminator, DoubledIsTwoEmptyRecordsInOneWrite) {
  GatewayConfig config;
  config.stdin_terminator.count = 2;
  Chain chain(config);
  auto x = chain.run(post("/probe?echo=1", 10));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  const auto* sent = chain.nth("gateway.stdin_terminator_sent");
  ASSERT_TRUE(sent) << chain.timeline();
  EXPECT_EQ(sent->value, 2u);
}

TEST(gateway_stdin_terminator, LateAfterAnotherPartysEvent) {
  GatewayConfig config;
  config.stdin_terminator.after = Selector::parse("backend.end_request_sent");
  config.keep_conn = true;  // the backend keeps the connection, so the late record arrives
  Chain chain(config);
  auto x = chain.run(get("/probe?size=10"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  // Ordering, not timing: the barrier held the terminator until the backend had answered.
  std::size_t end_at = 0, term_at = 0;
  for (std::size_t i = 0; i < chain.bus.log().size(); ++i) {
    const auto& e = chain.bus.log()[i];
    if (e.party == "backend" && e.name == "end_request_sent" && !end_at) end_at = i + 1;
    if (e.party == "gateway" && e.name == "stdin_terminator_sent") term_at = i + 1;
  }
  ASSERT_GT(end_at, 0u) << chain.timeline();
  EXPECT_GT(term_at, end_at) << chain.timeline();
}

// ------------------------------------------------------------------ body shaping, abort

TEST(gateway_body, PacedAndSplitAtRecordsAndBytes) {
  GatewayConfig config;
  config.body_pace = fh::fake::BodyPace{1000, 5};
  config.stdin_record_size = 300;
  config.stdin_segments = {3, 5};
  Chain chain(config);
  auto x = chain.run(post("/probe?echo=1", 3000));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_bytes, 3000u);
  // Slices of at most 1000 bytes (the client's pieces may be smaller), 3000 in all.
  const auto slices = chain.count("gateway.stdin_bytes_sent");
  EXPECT_GE(slices, 3u) << chain.timeline();
  EXPECT_EQ(chain.nth("gateway.stdin_bytes_sent", slices)->value, 3000u);
  // The first slice: 4 records of up to 300 bytes (8-byte headers), written 3 + 5 + 5 + ...
  const auto* first_stdin_write = chain.nth("gateway.backend_bytes_written", 2);
  ASSERT_TRUE(first_stdin_write);
  EXPECT_EQ(first_stdin_write->value, 3u);
}

TEST(gateway_abort, AbortRequestAfterBodyBytes) {
  GatewayConfig config;
  config.abort = fh::fake::AbortPlan{};
  config.abort->after_body_bytes = 1000;
  Chain chain(config);
  auto x = chain.run(post("/probe?echo=1", 5000));
  EXPECT_EQ(chain.count("gateway.abort_request_sent"), 1u) << chain.timeline();
  EXPECT_EQ(chain.count("backend.abort_request"), 1u) << chain.timeline();
  const auto slices = chain.count("gateway.stdin_bytes_sent");
  ASSERT_GE(slices, 1u);
  EXPECT_EQ(chain.nth("gateway.stdin_bytes_sent", slices)->value, 1000u) << chain.timeline();
  EXPECT_EQ(chain.count("gateway.stdin_terminator_sent"), 0u);
  EXPECT_NE(x.outcome, Outcome::pending) << x.summary();
}

TEST(gateway_abort, CloseAfterParamsWithoutAbortRequest) {
  GatewayConfig config;
  config.abort = fh::fake::AbortPlan{};
  config.abort->after_event = Selector::parse("gateway.params_sent");
  config.abort->how = fh::fake::AbortPlan::How::close;
  Chain chain(config);
  auto x = chain.run(post("/probe?echo=1", 5000));
  EXPECT_EQ(chain.count("gateway.backend_closed_by_gateway"), 1u) << chain.timeline();
  EXPECT_EQ(chain.count("gateway.stdin_bytes_sent"), 0u) << chain.timeline();
  EXPECT_EQ(x.status, 502) << x.summary();
}

// ------------------------------------------------------------------ backpressure, probes

TEST(gateway_backend_read, PausedThenSlowStillComplete) {
  GatewayConfig config;
  config.backend_read = fh::fake::BackendReadPlan{100, 4096, 1};
  config.backend_timeout_ms = 2000;
  Chain chain(config);
  auto x = chain.run(get("/probe?size=100000"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_bytes, 100000u);
  EXPECT_EQ(chain.count("gateway.backend_read_paused"), 1u);
  EXPECT_EQ(chain.count("gateway.backend_read_resumed"), 1u);
}

TEST(gateway_probes, GetValuesUnknownTypeAndRole) {
  GatewayConfig config;
  config.probes = {{fh::fake::GatewayProbe::Kind::get_values, 0},
                   {fh::fake::GatewayProbe::Kind::unknown_type, 99},
                   {fh::fake::GatewayProbe::Kind::role, 2},
                   {fh::fake::GatewayProbe::Kind::multiplex, 2}};
  Chain chain(config);
  auto x = chain.run(get("/probe?size=10"));  // forwarded after the probes
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  const auto* values = chain.nth("gateway.get_values_result_received");
  ASSERT_TRUE(values) << chain.timeline();
  EXPECT_NE(values->detail.find("FCGI_MPXS_CONNS=0"), std::string::npos) << values->detail;
  const auto* unknown = chain.nth("gateway.unknown_type_received");
  ASSERT_TRUE(unknown) << chain.timeline();
  EXPECT_EQ(unknown->value, 99u);
  const auto* role = chain.nth("gateway.end_request_received");
  ASSERT_TRUE(role) << chain.timeline();
  EXPECT_EQ(role->value, 3u) << "FCGI_UNKNOWN_ROLE";
  // Two interleaved requests on one connection: each gets its END_REQUEST (served in turn or
  // one refused with FCGI_CANT_MPX_CONN, as the backend chooses), then the client request.
  EXPECT_EQ(chain.count("gateway.end_request_received"), 4u) << chain.timeline();
}

// ------------------------------------------------------------------ seed races

// Reads nothing until the gateway paused reading the backend (the client is behind), then
// everything at full speed: the client catches up with the stream (seed 000).
asio::awaitable<void> catching_up_client(fh::net::Address gateway, fh::events::Bus& bus,
                                         std::shared_ptr<std::uint64_t> received,
                                         std::shared_ptr<bool> complete) {
  auto executor = co_await asio::this_coro::executor;
  fh::net::Socket socket(executor);
  socket.open(gateway.endpoint().protocol());
  socket.set_option(asio::socket_base::receive_buffer_size(16384));
  co_await socket.async_connect(gateway.endpoint(), asio::use_awaitable);
  const std::string request = "GET /probe?size=1000000 HTTP/1.1\r\nHost: t\r\n\r\n";
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  asio::steady_timer gate(executor, asio::steady_timer::time_point::max());
  const int id = bus.subscribe(Selector::parse("gateway.backend_read_paused"),
                               [&gate](const fh::events::Event&) { gate.cancel(); });
  if (bus.count(Selector::parse("gateway.backend_read_paused")) == 0)
    co_await gate.async_wait(asio::as_tuple(asio::use_awaitable));
  bus.unsubscribe(id);
  std::string all;
  char buf[65536];
  for (;;) {
    auto [ec, n] =
        co_await socket.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    all.append(buf, n);
    *received = all.size();
    if (all.size() >= 5 && all.compare(all.size() - 5, 5, "0\r\n\r\n") == 0) {
      *complete = true;
      co_return;
    }
    if (ec) co_return;
  }
}

std::pair<std::uint64_t, bool> stream_two_with_slow_client(bool bug) {
  GatewayConfig config;
  config.stream_response_body = 2;
  config.bugs.lighttpd_2796 = bug;
  Chain chain(config);
  auto received = std::make_shared<std::uint64_t>(0);
  auto complete = std::make_shared<bool>(false);
  asio::co_spawn(chain.io,
                 catching_up_client(chain.gateway->address(), chain.bus, received, complete),
                 [](std::exception_ptr) {});
  // Bounded: complete, or nothing more for 500 ms (the hang).
  std::uint64_t last = 0;
  auto quiet_since = Clock::now();
  while (!*complete && Clock::now() - quiet_since < 500ms) {
    chain.io.run_one_for(20ms);
    if (*received != last) last = *received, quiet_since = Clock::now();
  }
  EXPECT_GE(chain.count("gateway.backend_read_paused"), 1u) << chain.timeline();
  return {*received, *complete};
}

TEST(gateway_seed_races, Lighttpd2796HangsWhenTheClientCatchesUp) {
  auto [received, complete] = stream_two_with_slow_client(true);
  EXPECT_FALSE(complete);
  EXPECT_LT(received, 1000000u);
}

TEST(gateway_seed_races, StreamTwoFixedResumesAndCompletes) {
  auto [received, complete] = stream_two_with_slow_client(false);
  EXPECT_TRUE(complete) << received;
}

// Seed 001 problem 1: the backend answers and closes before the separate empty STDIN.
Exchange apache_terminator_after_close(bool bug, Chain*& out) {
  GatewayConfig config = with(fh::fake::Personality::apache);
  config.stdin_terminator.after = Selector::parse("backend.connection_closed");
  config.bugs.fail_on_stdin_write_error = bug;
  fh::fake::BackendConfig backend;
  backend.faults.push_back(
      fault(fh::fake::BackendEvent::end_request_sent, fh::fake::BackendAction::close));
  out = new Chain(config, backend);
  return out->run(get("/probe?size=5000"));
}

TEST(gateway_seed_races, ApacheFailsOnStdinWriteErrorWhenBuggy) {
  Chain* chain = nullptr;
  auto x = apache_terminator_after_close(true, chain);
  std::unique_ptr<Chain> owner(chain);
  EXPECT_EQ(x.status, 503) << x.summary() << chain->timeline();
  ASSERT_TRUE(chain->nth("gateway.backend_write_error")) << chain->timeline();
  const auto detail = chain->nth("gateway.backend_write_error")->detail;
  EXPECT_TRUE(detail == "EPIPE" || detail == "ECONNRESET") << detail;
}

TEST(gateway_seed_races, FixedGatewayDeliversTheResponseDespiteEpipe) {
  Chain* chain = nullptr;
  auto x = apache_terminator_after_close(false, chain);
  std::unique_ptr<Chain> owner(chain);
  EXPECT_EQ(x.status, 200) << x.summary() << chain->timeline();
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_bytes, 5000u);
  EXPECT_EQ(chain->count("gateway.backend_write_error"), 1u) << chain->timeline();
}

// Seed 001 problem 2: a body over 4 KiB, the backend closes without reading it.
Exchange nginx_body_to_closed_backend(bool bug, Chain*& out) {
  GatewayConfig config;
  config.bugs.nginx_empty_200 = bug;
  config.body_pace = fh::fake::BodyPace{4096, 0};  // several writes, as nginx's chain
  fh::fake::BackendConfig backend;
  backend.faults.push_back(
      fault(fh::fake::BackendEvent::params_complete, fh::fake::BackendAction::reset));
  out = new Chain(config, backend);
  return out->run(post("/probe?echo=1", 64 * 1024));
}

TEST(gateway_seed_races, NginxEmpty200WhenBuggy) {
  Chain* chain = nullptr;
  auto x = nginx_body_to_closed_backend(true, chain);
  std::unique_ptr<Chain> owner(chain);
  EXPECT_EQ(x.status, 200) << x.summary() << chain->timeline();
  EXPECT_EQ(x.body_bytes, 0u);
}

TEST(gateway_seed_races, Nginx502WhenFixed) {
  Chain* chain = nullptr;
  auto x = nginx_body_to_closed_backend(false, chain);
  std::unique_ptr<Chain> owner(chain);
  EXPECT_EQ(x.status, 502) << x.summary() << chain->timeline();
}

// Seed 004: END_REQUEST without the close; nginx (keep-conn off) waits for the close.
TEST(gateway_seed_races, WaitForBackendCloseStallsUntilTheTimeout) {
  GatewayConfig config;
  config.wait_for_backend_close = true;
  config.backend_timeout_ms = 300;
  fh::fake::BackendConfig backend;
  backend.keep_conn = fh::fake::KeepConnPolicy::ignore_clear;
  Chain chain(config, backend);
  auto x = chain.run(get("/probe?size=10"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary() << chain.timeline();
  ASSERT_TRUE(x.last_byte_ms);
  EXPECT_GE(*x.last_byte_ms, 250.0) << chain.timeline();
  EXPECT_EQ(chain.count("gateway.backend_close_timeout"), 1u) << chain.timeline();
}

TEST(gateway_seed_races, DefaultEndsTheResponseAtEndRequest) {
  GatewayConfig config;
  config.backend_timeout_ms = 3000;
  fh::fake::BackendConfig backend;
  backend.keep_conn = fh::fake::KeepConnPolicy::ignore_clear;
  Chain chain(config, backend);
  auto x = chain.run(get("/probe?size=10"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  ASSERT_TRUE(x.last_byte_ms);
  EXPECT_LT(*x.last_byte_ms, 2000.0);
}

TEST(gateway_stream_response_body, ZeroBuffersUntilEndRequest) {
  GatewayConfig config;
  config.stream_response_body = 0;
  Chain chain(config);
  auto x = chain.run(get("/probe?size=4000&chunk=1000&delay_ms=50"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_bytes, 4000u);
  ASSERT_TRUE(x.first_byte_ms && x.last_byte_ms);
  EXPECT_GE(*x.first_byte_ms, 100.0) << "nothing before the backend's end";
}

}  // namespace
