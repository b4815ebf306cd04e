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

TEST_F(FaultFamilyTest, OverloadedRejectsTheRequestWithItsProtocolStatus) {
  start(configured("{faults: [{at: params_complete, do: overloaded, app_status: 7}]}"));
  RawClient c(io);
  exchange(c, request(1, "size=1000"), Until::closed);
  const auto* end = c.first_of(RecordType::EndRequest);
  ASSERT_TRUE(end);
  const auto body = fcgi::decode_end_request(*end);
  ASSERT_TRUE(body);
  EXPECT_EQ(body.value().protocol_status,
            static_cast<std::uint8_t>(fcgi::ProtocolStatus::Overloaded));
  EXPECT_EQ(body.value().app_status, 7u);
  // END_REQUEST came first; what the app wrote after it is no second END_REQUEST (§5.5).
  ASSERT_FALSE(c.received.empty());
  EXPECT_TRUE(c.received.front().record.is(RecordType::EndRequest));
  std::size_t end_requests = 0;
  for (const auto& r : c.received) end_requests += r.record.is(RecordType::EndRequest);
  EXPECT_EQ(end_requests, 1u);
  const auto* fault = find("fault:overloaded");
  ASSERT_TRUE(fault);
  EXPECT_EQ(fault->detail, "at=params_complete app_status=7");
}

}  // namespace
}  // namespace fh::fake::family_test
