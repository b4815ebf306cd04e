// Terminator timing: the empty STDIN record that ends the request body (FastCGI 1.0 §3.3,
// §5.3): normal, doubled, missing, or late (at a trigger). faults/terminator_timing.cpp.
#pragma once

#include <cstdint>

#include "language/trigger.hpp"

namespace fh::fake {

struct StdinTerminatorPlan {
  std::uint32_t count = 1;  // 0: missing, 2: doubled
  /// When it is written: Kind::standing (the default) right with or after the body; else at
  /// this trigger (an event since the request head arrived, and/or delay_ms), bounded by
  /// backend_timeout_ms.
  language::Trigger at = standing();
  bool late() const { return at.kind != language::Trigger::Kind::standing || at.delay_ms > 0; }
  static language::Trigger standing() {
    language::Trigger t;
    t.kind = language::Trigger::Kind::standing;
    return t;
  }
};

}  // namespace fh::fake
