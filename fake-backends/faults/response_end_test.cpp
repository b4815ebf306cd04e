// Family "response end" (response_end.cpp): late or missing END_REQUEST, the missing empty
// STDOUT, a Content-Length that lies.
#include "tests/support/fake_backend_faults.hpp"

namespace fh::fake::family_test {
namespace {

TEST_F(FaultFamilyTest, LateEndRequestFollowsTheEmptyStdoutAfterTheDelay) {
  start(configured("{end_request_delay_ms: 150}"));
  RawClient c(io);
  exchange(c, request(1, "size=10"));
  ASSERT_TRUE(c.stream_ended(1, RecordType::Stdout));
  const Received* empty = nullptr;
  const Received* end = nullptr;
  for (const auto& r : c.received) {
    if (r.record.is(RecordType::Stdout) && r.record.content.empty()) empty = &r;
    if (r.record.is(RecordType::EndRequest)) end = &r;
  }
  ASSERT_TRUE(empty && end);
  EXPECT_GE(end->at - empty->at, 100ms);
}

TEST_F(FaultFamilyTest, EndRequestNeverAndStdoutTerminatorMissing) {
  start(configured("{end_request: never}"));
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(request(1, "size=10"));
    co_await c.read_until([&] { return c.stream_ended(1, RecordType::Stdout); });
    co_await logged("end_request_withheld");
  });
  EXPECT_FALSE(c.end_request(1));
  EXPECT_FALSE(c.ended());  // no END_REQUEST, no close either

  io.restart();
  start(configured("{stdout_terminator: false}"));
  RawClient d(io);
  exchange(d, request(1, "size=10"));
  EXPECT_TRUE(d.end_request(1));
  EXPECT_FALSE(d.stream_ended(1, RecordType::Stdout));
}

TEST_F(FaultFamilyTest, ContentLengthLiesInEitherDirection) {
  const std::pair<const char*, std::int64_t> cases[] = {{"{content_length: {more: 10}}", 10},
                                                        {"{content_length: {fewer: 10}}", -10},
                                                        {"{content_length: honest}", 0}};
  for (const auto& [keys, offset] : cases) {
    SCOPED_TRACE(keys);
    io.restart();
    start(configured(keys));
    RawClient c(io);
    exchange(c, request(1, "size=1000"));
    EXPECT_NE(c.head(1).find("\r\nContent-Length: " + std::to_string(1000 + offset) + "\r\n"),
              std::string::npos)
        << c.head(1);
    EXPECT_EQ(c.body(1).size(), 1000u);
  }
}

}  // namespace
}  // namespace fh::fake::family_test
