// The trigger grammar as the fake backend applies it (fake-backends/triggers.cpp): its own
// events per request, counters at exact byte counts, `request: N`, and any party's event on
// the bus acting on the newest open connection.
#include "fake-gateways/gateway_events.hpp"
#include "tests/support/fake_backend_faults.hpp"

namespace fh::fake::family_test {
namespace {

TEST_F(FaultFamilyTest, PublishesTheScenarioEventNames) {
  start();
  RawClient c(io);
  exchange(c, request(1, "size=10"));
  for (auto what : {"accepted", "begin_request", "params_complete", "stdin_terminator_received",
                    "headers_sent", "end_request_sent"})
    EXPECT_EQ(bus.count(events::Selector{"backend", what}), 1u) << what;
}

TEST_F(FaultFamilyTest, StdinBytesTriggerResetsAfterThatMuchBody) {
  start(configured("{faults: [{at: {stdin_bytes: 1000}, do: reset}]}"));
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "echo=1", "POST"));
    co_await c.send(encoded(fcgi::make_stream_record(RecordType::Stdin, 1, std::string(600, 'a'))));
    co_await logged("begin_request");
    EXPECT_EQ(count("fault:reset"), 0u);  // 600 < 1000
    co_await c.send(encoded(fcgi::make_stream_record(RecordType::Stdin, 1, std::string(600, 'b'))));
    co_await c.read_until_closed();
  });
  EXPECT_EQ(c.error, asio::error::connection_reset) << c.error.message();
  const auto* f = find("fault:reset");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->detail, "at=stdin_bytes:1000");
}

TEST_F(FaultFamilyTest, RequestNumberPicksTheNthBeginRequest) {
  start(configured("{faults: [{at: begin_request, request: 2, do: close}]}"));
  RawClient first(io), second(io);
  run([&]() -> asio::awaitable<void> {
    co_await send_and_read(first, request(1, "size=10"), Until::closed);
    co_await send_and_read(second, request(1, "size=10"), Until::closed);
  });
  EXPECT_TRUE(first.end_request(1));
  EXPECT_TRUE(second.received.empty());
}

TEST_F(FaultFamilyTest, BusEventOfAnotherPartyClosesTheNewestConnection) {
  start(configured("{faults: [{at: gateway.stdin_terminator_sent, do: close}]}"));
  RawClient older(io), newer(io);
  run([&]() -> asio::awaitable<void> {
    co_await older.connect(backend->address());
    co_await older.send(request(1, "size=10&first_byte_ms=5000", {}, fcgi::kKeepConn));
    co_await newer.connect(backend->address());
    co_await newer.send(request(1, "size=10&first_byte_ms=5000", {}, fcgi::kKeepConn));
    co_await logged("begin_request", 2);
    // What the fake gateway would publish; the backend acts inside this call.
    bus.publish(gateway_events::stdin_terminator_sent);
    EXPECT_EQ(count("fault:close"), 1u);
    co_await newer.read_until_closed();
  });
  EXPECT_TRUE(newer.eof);
  EXPECT_FALSE(older.ended());
  const auto* f = find("fault:close");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->connection, 2u);
  EXPECT_EQ(f->detail, "at=gateway.stdin_terminator_sent");
}

TEST_F(FaultFamilyTest, NthBusEventActsOnlyAtThatOccurrence) {
  start(configured("{faults: [{at: gateway.stdin_terminator_sent, nth: 2, do: close}]}"));
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(request(1, "size=10&first_byte_ms=5000", {}, fcgi::kKeepConn));
    co_await logged("begin_request");
    bus.publish(gateway_events::stdin_terminator_sent);
    EXPECT_EQ(count("fault:close"), 0u);  // the 1st
    bus.publish(gateway_events::stdin_terminator_sent);
    EXPECT_EQ(count("fault:close"), 1u);  // the 2nd
    co_await c.read_until_closed();
  });
  EXPECT_TRUE(c.eof);
}

TEST_F(FaultFamilyTest, FaultCloseAtBodyBytesLeavesExactlyThatManyBytes) {
  // Without chunk (65535-byte pieces) and with a chunk that doesn't divide the threshold.
  for (const std::string query : {"size=300000", "size=300000&chunk=30000"}) {
    SCOPED_TRACE(query);
    io.restart();
    start(configured("{faults: [{at: {body_bytes: 100000}, do: close}]}"));
    RawClient c(io);
    exchange(c, request(1, query), Until::closed);
    EXPECT_TRUE(c.eof);
    EXPECT_FALSE(c.error) << c.error.message();
    EXPECT_EQ(c.body(1).size(), 100000u);
    EXPECT_EQ(c.body(1), probe::pattern(0, 100000));
    EXPECT_FALSE(c.end_request(1));
    EXPECT_FALSE(c.stream_ended(1, RecordType::Stdout));
  }
}

TEST_F(FaultFamilyTest, FaultAppliesOnlyToItsRequestIndex) {
  start(configured("{faults: [{at: headers_sent, request: 2, do: close}]}"));
  RawClient first(io), second(io);
  run([&]() -> asio::awaitable<void> {
    co_await send_and_read(first, request(1, "size=10"), Until::closed);
    co_await send_and_read(second, request(1, "size=10"), Until::closed);
  });
  EXPECT_TRUE(first.end_request(1));
  EXPECT_EQ(first.body(1), probe::pattern(0, 10));
  EXPECT_FALSE(second.end_request(1));
  EXPECT_EQ(second.head(1), probe::response_head(200));  // closed right after the head
  EXPECT_TRUE(second.body(1).empty());
}

TEST_F(FaultFamilyTest, DelayedFaultActsWhileTheResponseGoesOn) {
  start(configured("{faults: [{at: headers_sent, delay_ms: 150, do: close}]}"));
  RawClient c(io);
  exchange(c, request(1, "size=100000&chunk=1000&delay_ms=20"), Until::closed);
  EXPECT_TRUE(c.eof);
  EXPECT_GT(c.body(1).size(), 0u);
  EXPECT_LT(c.body(1).size(), 100000u);
  EXPECT_FALSE(c.end_request(1));
}

}  // namespace
}  // namespace fh::fake::family_test
