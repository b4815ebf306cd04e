// Ctrl-C and SIGTERM: the run in progress is torn down properly (real programs stopped and
// reaped, the run's temp folder removed) instead of the process dying mid-run.
#pragma once

#include <stdexcept>

namespace fh::runner {

/// Installs SIGINT and SIGTERM handlers that only set a flag. Call once, early (before any
/// real peer starts, so the process core's own handler chains to this one).
void install_interrupt_handlers();
bool interrupted();
/// The signal that interrupted (SIGINT or SIGTERM), 0 when none.
int interrupt_signal();

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};
/// Throws Interrupted when a signal came; for loops that wait.
inline void throw_if_interrupted() {
  if (interrupted()) throw Interrupted();
}

}  // namespace fh::runner
