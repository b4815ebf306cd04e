// Faults a scenario injects into a real gateway or backend program: signals to its process
// group at protocol events (process_faults) and syscall tampering through strace --inject
// (syscall_faults). The runner (runner/process_faults.hpp) arms and fires them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/bus.hpp"
#include "language/family.hpp"
#include "language/trigger.hpp"

namespace fh::scenario {

namespace yaml = language::yaml;

/// One signal-level fault: at its trigger (the nth `at` event of the run, or {after_ms: N}
/// after the first client.request_started; then delay_ms), act on the peer's whole process
/// group.
struct ProcessFault {
  enum class Action { freeze, kill, stop, signal };
  language::Trigger at;  // Kind::event or Kind::elapsed
  Action action = Action::freeze;
  std::optional<std::uint32_t> for_ms;  // freeze: SIGCONT after this; unset: at the end of the run
  std::string signal;                   // do: signal: "HUP", "USR2", ... (without SIG)
  std::string origin;                   // file:line:column, for messages
  std::string describe() const;         // "freeze 300 ms at client.request_started"
};

/// One strace --inject expression, applied to every process of the peer's group.
struct SyscallFault {
  std::string syscall;                         // "writev"
  std::string error;                           // errno name ("EPIPE"), empty: no error
  std::optional<std::uint32_t> delay_ms;       // delay on entering the syscall
  std::optional<std::uint32_t> delay_exit_ms;  // delay on leaving it
  std::string when;  // strace's first[..last][+[step]] ("3", "2+"); empty: every call
  std::string origin;
  /// strace's -e inject= argument: "writev:error=EPIPE:when=3".
  std::string inject_expression() const;
};

/// "ProcessFault::Action" name as written in YAML.
std::string_view action_name(ProcessFault::Action action);

/// SIGHUP for "HUP" or "SIGHUP"; 0 when unknown. Covers the signals a fault may send.
int signal_number(std::string_view name);
/// "HUP" for SIGHUP; "signal N" when not in the table.
std::string signal_name(int signal);

/// The trigger grammar as process faults take it.
const language::TriggerRules& process_fault_trigger_rules();
/// process_faults and syscall_faults, described as fault families (list --faults, schema).
std::vector<language::FamilyDoc> peer_fault_families();

/// Reads `process_faults:` and `syscall_faults:` of a real gateway or backend (any non-fake
/// kind) from its mapping; errors point at file:line:column.
void read_peer_faults(yaml::MapReader& peer, std::vector<ProcessFault>& process_faults,
                      std::vector<SyscallFault>& syscall_faults);

}  // namespace fh::scenario
