// Bug emulation "fail_on_stdin_write_error" (fail_on_stdin_write_error.cpp): Apache's 503 on
// the EPIPE of its separate empty STDIN; fixed, the response is delivered (seed 001).
#include "tests/support/gateway_chain.hpp"

namespace fh::fake::gateway_family_test {
namespace {

// Seed 001 problem 1: the backend answers and closes before the separate empty STDIN.
Exchange apache_terminator_after_close(bool bug, Chain*& out) {
  out = new Chain(bug ? "{personality: apache, stdin_terminator: {at: backend.connection_closed}, "
                        "bug: fail_on_stdin_write_error}"
                      : "{personality: apache, stdin_terminator: {at: backend.connection_closed}}",
                  "{faults: [{at: end_request_sent, do: close}]}");
  return out->run(get("/probe?size=5000"));
}

TEST(gateway_seed_races, ApacheFailsOnStdinWriteErrorWhenBuggy) {
  Chain* chain = nullptr;
  auto x = apache_terminator_after_close(true, chain);
  std::unique_ptr<Chain> owner(chain);
  EXPECT_EQ(x.status, 503) << x.summary() << chain->timeline();
  ASSERT_TRUE(chain->nth("gateway.backend_write_error")) << chain->timeline();
  const auto detail = chain->nth("gateway.backend_write_error")->detail;
  EXPECT_TRUE(detail == "EPIPE" || detail == "ECONNRESET") << detail;
}

TEST(gateway_seed_races, FixedGatewayDeliversTheResponseDespiteEpipe) {
  Chain* chain = nullptr;
  auto x = apache_terminator_after_close(false, chain);
  std::unique_ptr<Chain> owner(chain);
  EXPECT_EQ(x.status, 200) << x.summary() << chain->timeline();
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_bytes, 5000u);
  EXPECT_EQ(chain->count("gateway.backend_write_error"), 1u) << chain->timeline();
}

}  // namespace
}  // namespace fh::fake::gateway_family_test
