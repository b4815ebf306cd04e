// Record shapes: how the backend cuts its output into records and writes (record_size,
// padding, segments, segment_delay_ms). faults/record_shapes.cpp reads the keys; the record
// writer (record_writer.cpp) asks this struct for each record's shape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fh::fake {

struct RecordShape {
  std::size_t record_size = 65535;     // max content bytes per STDOUT/STDERR record (§3.3)
  std::uint8_t padding = 0;            // §3.3 paddingLength of every record
  bool align8 = false;                 // pad content to a multiple of 8 instead
  std::vector<std::size_t> segments;   // write each record as these byte counts, then the rest
  std::uint32_t segment_delay_ms = 0;  // between segments (TCP_NODELAY keeps them apart)

  /// Content bytes of one record: record_size within 1..65535.
  std::size_t content_limit() const;
  std::uint8_t padding_for(std::size_t content) const;
  /// Offsets inside a record of `wire_size` bytes where one segment ends and the next
  /// begins (ascending, each below wire_size).
  std::vector<std::size_t> segment_ends(std::size_t wire_size) const;
};

}  // namespace fh::fake
