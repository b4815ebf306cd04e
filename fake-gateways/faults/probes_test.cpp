// Family "probes" (probes.cpp).
#include "tests/support/gateway_chain.hpp"

namespace fh::fake::gateway_family_test {
namespace {

TEST(gateway_probes, GetValuesUnknownTypeAndRole) {
  Chain chain("{probes: [get_values, {unknown_type: 99}, {role: authorizer}, {multiplex: 2}]}");
  auto x = chain.run(get("/probe?size=10"));  // forwarded after the probes
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  const auto* values = chain.nth("gateway.get_values_result_received");
  ASSERT_TRUE(values) << chain.timeline();
  EXPECT_NE(values->detail.find("FCGI_MPXS_CONNS=0"), std::string::npos) << values->detail;
  const auto* unknown = chain.nth("gateway.unknown_type_received");
  ASSERT_TRUE(unknown) << chain.timeline();
  EXPECT_EQ(unknown->value, 99u);
  const auto* role = chain.nth("gateway.end_request_received");
  ASSERT_TRUE(role) << chain.timeline();
  EXPECT_EQ(role->value, 3u) << "FCGI_UNKNOWN_ROLE";
  // Two interleaved requests on one connection: each gets its END_REQUEST (served in turn or
  // one refused with FCGI_CANT_MPX_CONN, as the backend chooses), then the client request.
  EXPECT_EQ(chain.count("gateway.end_request_received"), 4u) << chain.timeline();
}

}  // namespace
}  // namespace fh::fake::gateway_family_test
