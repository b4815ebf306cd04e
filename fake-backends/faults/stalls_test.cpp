// Family "stalls" (stalls.cpp): stall_reading with a small receive buffer, stall_writing
// until an event, a finite stall.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "tests/support/fake_backend_faults.hpp"

namespace fh::fake::family_test {
namespace {

TEST_F(FaultFamilyTest, StallReadingBlocksThePeersWrites) {
  start(configured(
      "{receive_buffer: 4096, faults: [{at: params_complete, do: stall_reading, stall_ms: 300}]}"));
  RawClient c(io);
  const std::string upload = probe::pattern(0, 16u << 20);
  Clock::time_point t0{}, written{};
  run(
      [&]() -> asio::awaitable<void> {
        co_await c.connect(backend->address());
        t0 = Clock::now();
        co_await c.send(request(1, "echo=1", upload));
        written = Clock::now();
        co_await c.read_until_end_request(1);
      },
      30s);
  EXPECT_EQ(c.body(1).size(), upload.size());
  // 16 MiB cannot fit the socket buffers: the write finished only after the stall.
  EXPECT_GE(written - t0, 250ms);
}

TEST_F(FaultFamilyTest, StallWritingUntilAnEventHoldsTheResponse) {
  start(
      configured("{faults: [{at: params_complete, do: stall_writing, until: "
                 "backend.stdin_terminator_received}]}"));
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "size=10", "POST"));
    co_await logged("params_complete");
    co_await c.send(stdin_stream(1, "body"));
    co_await c.read_until_end_request(1);
  });
  const auto* terminator = find("stdin_terminator_received");
  const auto* head = find("headers_sent");
  ASSERT_TRUE(terminator && head);
  EXPECT_GE(head->at, terminator->at);
  EXPECT_EQ(count("stall_ended"), 1u);
}

TEST_F(FaultFamilyTest, StallKeysOfOtherVerbsAreRejected) {
  try {
    configured("{faults: [{at: params_complete, do: close, stall_ms: 10}]}");
    FAIL() << "stall_ms on close was accepted";
  } catch (const language::ScenarioError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'stall_ms'"), std::string::npos) << e.what();
  }
}

TEST_F(FaultFamilyTest, FiniteStallDelaysTheResponse) {
  start(configured("{faults: [{at: headers_sent, do: stall, stall_ms: 200}]}"));
  RawClient c(io);
  Clock::time_point head_at{}, end_at{};
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(request(1, "size=10"));
    co_await c.read_until([&] { return !c.head(1).empty(); });
    head_at = Clock::now();
    co_await c.read_until_end_request(1);
    end_at = Clock::now();
  });
  EXPECT_EQ(c.body(1), probe::pattern(0, 10));
  EXPECT_GE(end_at - head_at, 180ms);
  EXPECT_EQ(count("fault:stall"), 1u);
}

TEST_F(FaultFamilyTest, StallUntilStoppedThenStopEndsEverything) {
  start(configured("{faults: [{at: params_complete, do: stall}]}"));
  RawClient c(io);
  bool stdout_before_stop = true;
  Clock::time_point stopped_at{}, closed_at{};
  const auto t0 = Clock::now();
  // Not via run(): the test stops the backend itself and io.run_for must return on its own.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await c.connect(backend->address());
        co_await c.send(request(1, "size=10"));
        co_await c.read_until_closed();
        closed_at = Clock::now();
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await sleep_for(300ms);
        stdout_before_stop = c.first_of(RecordType::Stdout) != nullptr;
        stopped_at = Clock::now();
        backend->stop();
      },
      asio::detached);
  io.run_for(10s);
  EXPECT_LT(Clock::now() - t0, 2s) << "io.run_for did not return after stop()";
  EXPECT_FALSE(stdout_before_stop);
  EXPECT_TRUE(c.ended());
  EXPECT_GE(closed_at, stopped_at);
  EXPECT_EQ(count("fault:stall"), 1u);
}

}  // namespace
}  // namespace fh::fake::family_test
