// Family "relay modes" (relay_modes.cpp): stream_response_body, wait_for_backend_close.
#include "tests/support/gateway_chain.hpp"

namespace fh::fake::gateway_family_test {
namespace {

TEST(gateway_seed_races, WaitForBackendCloseStallsUntilTheTimeout) {
  Chain chain("{wait_for_backend_close: true, backend_timeout_ms: 300}",
              "{keep_conn: ignore_clear}");
  auto x = chain.run(get("/probe?size=10"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary() << chain.timeline();
  ASSERT_TRUE(x.last_byte_ms);
  EXPECT_GE(*x.last_byte_ms, 250.0) << chain.timeline();
  EXPECT_EQ(chain.count("gateway.backend_close_timeout"), 1u) << chain.timeline();
}

TEST(gateway_seed_races, DefaultEndsTheResponseAtEndRequest) {
  Chain chain("{backend_timeout_ms: 3000}", "{keep_conn: ignore_clear}");
  auto x = chain.run(get("/probe?size=10"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  ASSERT_TRUE(x.last_byte_ms);
  EXPECT_LT(*x.last_byte_ms, 2000.0);
}

TEST(gateway_stream_response_body, ZeroBuffersUntilEndRequest) {
  Chain chain("{stream_response_body: 0}");
  auto x = chain.run(get("/probe?size=4000&chunk=1000&delay_ms=50"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_bytes, 4000u);
  ASSERT_TRUE(x.first_byte_ms && x.last_byte_ms);
  EXPECT_GE(*x.first_byte_ms, 100.0) << "nothing before the backend's end";
}

}  // namespace
}  // namespace fh::fake::gateway_family_test
