// Family "terminator timing" (terminator_timing.cpp): missing, doubled, late.
#include "tests/support/gateway_chain.hpp"

namespace fh::fake::gateway_family_test {
namespace {

TEST(gateway_stdin_terminator, MissingMeansTheBackendWaits) {
  Chain chain("{stdin_terminator: missing, backend_timeout_ms: 300}");
  auto x = chain.run(post("/probe?echo=1", 10));
  EXPECT_EQ(x.status, 504) << x.summary() << chain.timeline();
  EXPECT_EQ(chain.count("gateway.stdin_terminator_sent"), 0u);
  EXPECT_EQ(chain.count("gateway.stdin_terminator_withheld"), 1u);
}

TEST(gateway_stdin_terminator, DoubledIsTwoEmptyRecordsInOneWrite) {
  Chain chain("{stdin_terminator: doubled}");
  auto x = chain.run(post("/probe?echo=1", 10));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  const auto* sent = chain.nth("gateway.stdin_terminator_sent");
  ASSERT_TRUE(sent) << chain.timeline();
  EXPECT_EQ(sent->value, 2u);
}

TEST(gateway_stdin_terminator, LateAfterAnotherPartysEvent) {
  // keep_conn: the backend keeps the connection, so the late record arrives.
  Chain chain("{stdin_terminator: {at: backend.end_request_sent}, keep_conn: true}");
  auto x = chain.run(get("/probe?size=10"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  // Ordering, not timing: the barrier held the terminator until the backend had answered.
  std::size_t end_at = 0, term_at = 0;
  for (std::size_t i = 0; i < chain.bus.log().size(); ++i) {
    const auto& e = chain.bus.log()[i];
    if (e.party == "backend" && e.name == "end_request_sent" && !end_at) end_at = i + 1;
    if (e.party == "gateway" && e.name == "stdin_terminator_sent") term_at = i + 1;
  }
  ASSERT_GT(end_at, 0u) << chain.timeline();
  EXPECT_GT(term_at, end_at) << chain.timeline();
}

}  // namespace
}  // namespace fh::fake::gateway_family_test
