// Abort: the gateway ends the backend request early, with FCGI_ABORT_REQUEST (§5.4) or by
// closing the connection without it. faults/abort.cpp.
#pragma once

#include "language/trigger.hpp"

namespace fh::fake {

struct AbortPlan {
  enum class How { abort_request, close, reset };
  /// An event since the request head arrived, or {stdin_bytes: N}: once N body bytes were
  /// sent as STDIN; delay_ms after it.
  language::Trigger at;
  How how = How::abort_request;
};

}  // namespace fh::fake
