// Family "backpressure" (backpressure.cpp): backend_read.
#include "tests/support/gateway_chain.hpp"

namespace fh::fake::gateway_family_test {
namespace {

TEST(gateway_backend_read, PausedThenSlowStillComplete) {
  Chain chain(
      "{backend_read: {pause_ms: 100, bytes_per_read: 4096, every_ms: 1}, backend_timeout_ms: "
      "2000}");
  auto x = chain.run(get("/probe?size=100000"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_bytes, 100000u);
  EXPECT_EQ(chain.count("gateway.backend_read_paused"), 1u);
  EXPECT_EQ(chain.count("gateway.backend_read_resumed"), 1u);
}

}  // namespace
}  // namespace fh::fake::gateway_family_test
