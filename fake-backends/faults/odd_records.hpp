// Odd records: STDERR interleaved with the body (stderr_interleave), and the send_record verb
// (empty STDERR, unknown types, stray request ids). faults/odd_records.cpp.
#pragma once

#include <cstdint>

namespace fh::fake {

/// N bytes of STDERR after every K response body bytes (FastCGI 1.0 §6.1: STDERR may be
/// interleaved with STDOUT at record boundaries).
struct StderrInterleave {
  std::uint64_t every = 0;  // K; 0: off
  std::uint64_t bytes = 0;  // N

  bool active() const { return every && bytes; }
  /// Where a body record starting at `at` must end at the latest (`end` if no boundary).
  std::uint64_t limit(std::uint64_t at, std::uint64_t end) const;
  /// A STDERR record is due after the body record ending at `at`.
  bool due_after(std::uint64_t at) const { return active() && at % every == 0; }
};

}  // namespace fh::fake
