// Family "record shapes" (record_shapes.cpp): record_size, padding, segments.
#include <array>
#include <boost/asio/use_awaitable.hpp>

#include "tests/support/fake_backend_faults.hpp"

namespace fh::fake::family_test {
namespace {

TEST_F(FaultFamilyTest, RecordSizeAndPaddingShapeEveryStdoutRecord) {
  for (bool align8 : {false, true}) {
    SCOPED_TRACE(align8 ? "align8" : "padding 3");
    io.restart();
    start(configured(align8 ? "{record_size: 1000, padding: align8}"
                            : "{record_size: 1000, padding: 3}"));
    RawClient c(io);
    exchange(c, request(1, "size=2500"));
    EXPECT_EQ(c.body(1), probe::pattern(0, 2500));
    std::vector<std::size_t> sizes;
    for (const auto* r : records_of(c, RecordType::Stdout)) {
      sizes.push_back(r->content.size());
      if (align8) {
        EXPECT_EQ((r->content.size() + r->padding_length) % 8, 0u);
      } else {
        EXPECT_EQ(r->padding_length, 3u);
      }
    }
    // The head, three body records (1000, 1000, 500), the empty STDOUT.
    ASSERT_EQ(sizes.size(), 5u);
    EXPECT_EQ(sizes[1], 1000u);
    EXPECT_EQ(sizes[2], 1000u);
    EXPECT_EQ(sizes[3], 500u);
    EXPECT_EQ(sizes[4], 0u);
    backend.reset();
  }
}

TEST_F(FaultFamilyTest, SegmentsArriveApartAndStillDecode) {
  start(configured("{segments: [3, 5], segment_delay_ms: 30}"));
  RawClient c(io);
  std::size_t first_read = 0;
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(request(1, "size=100"));
    std::array<char, 64> buf{};
    // The first segment is 3 header bytes; the next leaves 30 ms later.
    first_read = co_await c.socket().async_read_some(asio::buffer(buf), asio::use_awaitable);
  });
  EXPECT_EQ(first_read, 3u);
}

TEST_F(FaultFamilyTest, SegmentedResponseIsStillComplete) {
  start(configured("{segments: [3, 5], segment_delay_ms: 5, record_size: 40}"));
  RawClient c(io);
  exchange(c, request(1, "size=200"));
  EXPECT_EQ(c.body(1), probe::pattern(0, 200));
}

}  // namespace
}  // namespace fh::fake::family_test
