// Family "body shaping" (body_shaping.cpp): pace, record size, segments.
#include "tests/support/gateway_chain.hpp"

namespace fh::fake::gateway_family_test {
namespace {

TEST(gateway_body, PacedAndSplitAtRecordsAndBytes) {
  Chain chain(
      "{body_pace: {bytes: 1000, every_ms: 5}, stdin_record_size: 300, stdin_segments: [3, 5]}");
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

}  // namespace
}  // namespace fh::fake::gateway_family_test
