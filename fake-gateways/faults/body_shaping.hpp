// Body shaping: how the request body goes to the backend (body_pace, stdin_record_size,
// stdin_segments). faults/body_shaping.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace fh::fake {

/// The request body to the backend in slices of `bytes`, one every `every_ms`.
struct BodyPace {
  std::uint64_t bytes = 0;
  std::uint32_t every_ms = 0;
};

struct BodyShape {
  std::optional<BodyPace> pace;
  std::size_t stdin_record_size = 0;        // max STDIN record content; 0: the personality's
  std::vector<std::size_t> stdin_segments;  // each STDIN write split into writes of these sizes
};

}  // namespace fh::fake
