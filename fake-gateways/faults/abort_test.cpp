// Family "abort" (abort.cpp): ABORT_REQUEST at a byte count, close at an event.
#include "tests/support/gateway_chain.hpp"

namespace fh::fake::gateway_family_test {
namespace {

TEST(gateway_abort, AbortRequestAfterBodyBytes) {
  Chain chain("{abort: {at: {stdin_bytes: 1000}}}");
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
  Chain chain("{abort: {at: gateway.params_sent, do: close}}");
  auto x = chain.run(post("/probe?echo=1", 5000));
  EXPECT_EQ(chain.count("gateway.backend_closed_by_gateway"), 1u) << chain.timeline();
  EXPECT_EQ(chain.count("gateway.stdin_bytes_sent"), 0u) << chain.timeline();
  EXPECT_EQ(x.status, 502) << x.summary();
}

}  // namespace
}  // namespace fh::fake::gateway_family_test
