// Request records: how the request's records are cut and padded, and parameters beyond the
// CGI set (record_padding, params_record_size, extra_params). An instrument for certifying a
// backend's record reader (FastCGI 1.0 §3.3, §3.4). faults/request_records.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "codec/fcgi.hpp"

namespace fh::fake {

/// paddingLength of every PARAMS and STDIN record the gateway writes.
struct RecordPadding {
  enum class Kind {
    personality,  // as the personality pads (align8 or none)
    fixed,        // `bytes` on every record
    align8,       // to a multiple of 8 (§3.3 recommends it)
    cycle,        // 0, 1, 2, ... 255, 0, ...: every padding length in turn
  };
  Kind kind = Kind::personality;
  std::uint8_t bytes = 0;
};

struct RequestRecords {
  RecordPadding padding;
  std::size_t params_record_size = 0;  // max PARAMS record content; 0: 65535
  fcgi::NameValues extra_params;       // after the CGI set, in this order

  /// Sets the padding of each record as configured; `nth` counts the records padded so far
  /// in the request (for cycle). A record keeps the personality's padding under `personality`.
  void pad(std::vector<fcgi::Record>& records, std::uint64_t& nth) const;
};

}  // namespace fh::fake
