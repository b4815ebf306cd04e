// Family "odd records" (odd_records.cpp): stderr_interleave and send_record.
#include "tests/support/fake_backend_faults.hpp"

namespace fh::fake::family_test {
namespace {

TEST_F(FaultFamilyTest, StderrInterleavesWithStdout) {
  start(configured("{stderr_interleave: {bytes: 10, every: 1000}}"));
  RawClient c(io);
  exchange(c, request(1, "size=3500"));
  EXPECT_EQ(c.body(1), probe::pattern(0, 3500));
  EXPECT_EQ(c.stream(1, RecordType::Stderr), std::string(30, 'E'));
  // STDERR sits between STDOUT records.
  std::string order;
  for (const auto& r : c.received) order += r.record.is(RecordType::Stderr) ? 'E' : 'O';
  EXPECT_EQ(order.substr(0, 9), "OOEOEOEOO") << order;
}

TEST_F(FaultFamilyTest, SendRecordWritesOddRecordsBeforeTheBody) {
  start(configured(R"({faults: [
      {at: params_complete, do: send_record, record: {type: stderr}},
      {at: headers_sent, do: send_record, record: {type: 42, length: 65535, padding: 7}},
      {at: headers_sent, do: send_record, record: {type: stdout, length: 5, request_id: inactive}}]})"));
  RawClient c(io);
  exchange(c, request(1, "size=100"));
  ASSERT_GE(c.received.size(), 5u);
  EXPECT_TRUE(c.received[0].record.is(RecordType::Stderr));
  EXPECT_TRUE(c.received[0].record.content.empty());
  EXPECT_TRUE(c.received[1].record.is(RecordType::Stdout));  // the head
  EXPECT_EQ(c.received[2].record.type, 42);
  EXPECT_EQ(c.received[2].record.content.size(), 65535u);
  EXPECT_EQ(c.received[2].record.padding_length, 7u);
  EXPECT_TRUE(c.received[3].record.is(RecordType::Stdout));
  EXPECT_NE(c.received[3].record.request_id, 1u);
  EXPECT_EQ(c.body(1), probe::pattern(0, 100));
  EXPECT_EQ(count("record_sent"), 3u);
}

}  // namespace
}  // namespace fh::fake::family_test
