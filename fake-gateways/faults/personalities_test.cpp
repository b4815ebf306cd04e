// Family "personalities" (personalities.cpp): each one's writes, against the fake backend.
#include "tests/support/gateway_chain.hpp"

namespace fh::fake::gateway_family_test {
namespace {

TEST(gateway_personality, NginxSmallRequestInOneWrite) {
  Chain chain("{personality: nginx}");
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
  Chain chain("{personality: apache}");
  auto x = chain.run(get("/probe?size=10"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  // BEGIN_REQUEST, then PARAMS, then the empty STDIN (seed 001).
  EXPECT_EQ(chain.count("gateway.backend_bytes_written"), 3u) << chain.timeline();
  const auto* last = chain.nth("gateway.backend_bytes_written", 3);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->value, 8u) << "the terminator alone";
}

TEST(gateway_personality, HaproxyKeepsTheConnectionWithOddRequestIds) {
  Chain chain("{personality: haproxy}");
  auto both = chain.run_on_one_connection({get("/probe?size=10"), get("/probe?size=20")});
  const auto& first = both[0];
  const auto& second = both[1];
  EXPECT_EQ(first.outcome, Outcome::complete) << first.summary();
  EXPECT_EQ(second.outcome, Outcome::complete) << second.summary();
  EXPECT_EQ(second.body_bytes, 20u);
  ASSERT_EQ(chain.count("gateway.end_request_received"), 2u) << chain.timeline();
  EXPECT_EQ(chain.nth("gateway.end_request_received", 1)->request_id, 1);
  EXPECT_EQ(chain.nth("gateway.end_request_received", 2)->request_id, 3);
  EXPECT_EQ(chain.count("gateway.backend_connection_reused"), 1u) << chain.timeline();
  EXPECT_EQ(chain.count("backend.accepted"), 1u) << chain.timeline();
}

// http-reuse safe: a client connection's first request may find the pooled connection
// already closing (the backend's FIN on its way), so it always gets a backend connection of its
// own; only later requests on the same client connection reuse.
TEST(gateway_personality, HaproxyNeverReusesForAClientConnectionsFirstRequest) {
  Chain chain("{personality: haproxy}");
  auto first = chain.run(get("/probe?size=10"));
  auto second = chain.run(get("/probe?size=20"));
  EXPECT_EQ(first.outcome, Outcome::complete) << first.summary();
  EXPECT_EQ(second.outcome, Outcome::complete) << second.summary();
  EXPECT_EQ(chain.count("gateway.backend_connection_reused"), 0u) << chain.timeline();
  EXPECT_EQ(chain.count("backend.accepted"), 2u) << chain.timeline();
}

}  // namespace
}  // namespace fh::fake::gateway_family_test
