// Backpressure: the gateway reads its backend late and/or slowly (backend_read).
// faults/backpressure.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fh::fake {

struct BackendReadPlan {
  std::uint32_t pause_ms = 0;      // no read for this long after the request was sent
  std::size_t bytes_per_read = 0;  // 0: up to 64 KiB per read
  std::uint32_t every_ms = 0;      // between reads
};

}  // namespace fh::fake
