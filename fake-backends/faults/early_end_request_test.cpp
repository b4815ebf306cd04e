// Family "early END_REQUEST" (early_end_request.cpp).
#include "tests/support/fake_backend_faults.hpp"

namespace fh::fake::family_test {
namespace {

TEST_F(FaultFamilyTest, EarlyEndRequestPrecedesTheRestOfTheBody) {
  start(configured("{record_size: 1000, faults: [{at: {body_bytes: 1000}, do: end_request}]}"));
  RawClient c(io);
  exchange(c, request(1, "size=3000"), Until::closed);
  std::size_t body_before_end = 0, end_requests = 0;
  bool after = false;
  for (const auto& r : c.received) {
    if (r.record.is(RecordType::EndRequest)) {
      ++end_requests;
      after = true;
    } else if (r.record.is(RecordType::Stdout) && !after) {
      body_before_end += r.record.content.size();
    }
  }
  EXPECT_EQ(end_requests, 1u);
  EXPECT_EQ(body_before_end, probe::response_head(200).size() + 1000u);
  EXPECT_EQ(c.body(1).size(), 3000u);  // the app wrote on after END_REQUEST
}

}  // namespace
}  // namespace fh::fake::family_test
