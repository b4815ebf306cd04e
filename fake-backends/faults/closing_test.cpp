// Family "closing" (closing.cpp): close, shutdown, reset, mid-record.
#include "tests/support/fake_backend_faults.hpp"

namespace fh::fake::family_test {
namespace {

TEST_F(FaultFamilyTest, CloseAtParamsCompleteClosesBeforeAnyStdout) {
  start(configured("{faults: [{at: params_complete, do: close}]}"));
  RawClient c(io);
  exchange(c, begin(1) + params(1, "size=10"), Until::closed);
  EXPECT_TRUE(c.eof);
  EXPECT_FALSE(c.error) << c.error.message();
  EXPECT_TRUE(c.received.empty());
  const auto* f = find("fault:close");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->detail, "at=params_complete");
}

TEST_F(FaultFamilyTest, ResetAtParamsCompleteSendsRst) {
  start(configured("{faults: [{at: params_complete, do: reset}]}"));
  RawClient c(io);
  exchange(c, begin(1) + params(1, "size=10"), Until::closed);
  EXPECT_EQ(c.error, asio::error::connection_reset) << c.error.message();
  EXPECT_TRUE(c.received.empty());
  EXPECT_EQ(count("fault:reset"), 1u);
}

TEST_F(FaultFamilyTest, MidRecordCloseLeavesAPartialRecordOnTheWire) {
  start(
      configured("{record_size: 1000, faults: [{at: {body_bytes: 1500, mid_record: true}, "
                 "do: close}]}"));
  RawClient c(io);
  exchange(c, request(1, "size=3000"), Until::closed);
  EXPECT_TRUE(c.eof);
  // Whole records carry 1000 body bytes; the second record's header and 500 bytes wait.
  EXPECT_EQ(c.body(1).size(), 1000u);
  EXPECT_TRUE(c.decoder().mid_record());
  EXPECT_EQ(c.decoder().buffered(), fcgi::kHeaderLength + 500u);
  EXPECT_FALSE(c.end_request(1));
}

TEST_F(FaultFamilyTest, ShutdownSendsFinAndKeepsReading) {
  start(configured("{faults: [{at: headers_sent, do: shutdown}]}"));
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "size=100000", "POST"));
    co_await c.read_until_closed();
    // Our side may still write: the backend reads on (no RST), then closes at our EOF.
    co_await c.send(stdin_stream(1, std::string(100000, 'x')));
    c.socket().shutdown(net::Socket::shutdown_send);
    co_await logged("connection_closed");
  });
  EXPECT_TRUE(c.eof);
  EXPECT_FALSE(c.error) << c.error.message();
  EXPECT_EQ(c.head(1), probe::response_head(200));
  EXPECT_TRUE(c.body(1).empty());
  EXPECT_EQ(count("fault:shutdown"), 1u);
  const auto* closed = find("connection_closed");
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->detail, "peer_closed");
}

}  // namespace
}  // namespace fh::fake::family_test
