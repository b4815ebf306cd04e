// Family "connection policy" (connection_policy.cpp): linger, late empty STDIN, keep_conn.
#include "tests/support/fake_backend_faults.hpp"

namespace fh::fake::family_test {
namespace {

TEST_F(FaultFamilyTest, LingerOffClosesWithUnreadInputAsRst) {
  // The uWSGI bug (seed 5): answered before reading the body, closed with input unread.
  start(configured(R"({linger: false, faults: [
      {at: params_complete, do: stall_reading},
      {at: params_complete, do: stall_writing, until: harness.test_step}]})"));
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "size=1000", "POST"));
    co_await logged("params_complete");
    // On loopback the body is in the backend's receive queue once the write returns.
    co_await c.send(
        encoded(fcgi::make_stream_record(RecordType::Stdin, 1, std::string(5000, 'x'))));
    bus.publish(kTestStep);
    co_await c.read_until_closed();
  });
  EXPECT_EQ(c.error, asio::error::connection_reset) << c.error.message();
  EXPECT_EQ(count("lingering"), 0u);
}

TEST_F(FaultFamilyTest, LateStdinTerminatorIsIgnoredAndTheConnectionStaysOpen) {
  // Go net/http/fcgi < 1.16 (seed 4): KEEP_CONN clear, yet no close after END_REQUEST.
  start(configured("{ignore_late_stdin_terminator: true}"));
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "size=10", "POST"));
    co_await c.read_until_end_request(1);
    co_await c.send(stdin_stream(1, "late body"));
    EXPECT_TRUE(co_await logged("stdin_terminator_ignored"));
  });
  EXPECT_FALSE(c.ended());
  EXPECT_EQ(bus.count(events::Selector{"backend", "stdin_terminator_ignored"}), 1u);
  const auto* closed = find("connection_closed");
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->detail, "stopped");  // only stop() closed it
}

TEST_F(FaultFamilyTest, KeepConnPolicies) {
  {
    start(configured("{keep_conn: ignore_set}"));
    RawClient c(io);
    exchange(c, request(1, "size=10", {}, fcgi::kKeepConn), Until::closed);
    EXPECT_TRUE(c.end_request(1));
    EXPECT_TRUE(c.eof);
    EXPECT_EQ(count("keep_conn_ignored"), 1u);
  }
  io.restart();
  {
    start(configured("{keep_conn: ignore_clear}"));
    RawClient c(io);
    run([&]() -> asio::awaitable<void> {
      co_await c.connect(backend->address());
      co_await c.send(request(1, "size=10"));
      co_await c.read_until_end_request(1);
      co_await logged("keep_conn_ignored");
    });
    EXPECT_FALSE(c.ended());
    ASSERT_TRUE(find("connection_closed"));
    EXPECT_EQ(find("connection_closed")->detail, "stopped");
  }
}

}  // namespace
}  // namespace fh::fake::family_test
