// The syscall observer's events (observe: {syscalls: gateway|backend}): every traced call of
// the party's processes, named `syscall:<name>`, on the party's own lane.
#pragma once

#include <string>
#include <vector>

#include "events/declaration.hpp"

namespace fh::observers::syscall_events {

using events::EventDecl;
using events::Source;

/// The calls the timeline traces (strace_timeline.hpp kTimelineTrace, %network spelled out).
std::vector<std::string> traced_syscalls();

inline constexpr EventDecl gateway_syscall{
    "gateway",
    "syscall:",
    Source::gateway_syscalls,
    "a call of the gateway's processes returned (strace), placed when it returned",
    "bytes moved",
    "fd with endpoints, bytes, result or errno, buffer, pid, duration",
    "<syscall>",
    &traced_syscalls};
inline constexpr EventDecl backend_syscall{
    "backend",
    "syscall:",
    Source::backend_syscalls,
    "a call of the backend's processes returned (strace), placed when it returned",
    "bytes moved",
    "fd with endpoints, bytes, result or errno, buffer, pid, duration",
    "<syscall>",
    &traced_syscalls};
inline constexpr EventDecl gateway_signal{"gateway",
                                          "signal:",
                                          Source::gateway_syscalls,
                                          "a signal reached a gateway process (strace)",
                                          "",
                                          "the signal and pid",
                                          "<SIG>",
                                          nullptr};
inline constexpr EventDecl backend_signal{"backend",
                                          "signal:",
                                          Source::backend_syscalls,
                                          "a signal reached a backend process (strace)",
                                          "",
                                          "the signal and pid",
                                          "<SIG>",
                                          nullptr};
inline constexpr EventDecl gateway_process_exited{
    "gateway", "process_exited", Source::gateway_syscalls, "a traced gateway process exited", "pid",
    ""};
inline constexpr EventDecl backend_process_exited{
    "backend", "process_exited", Source::backend_syscalls, "a traced backend process exited", "pid",
    ""};

inline const events::EventList& all() {
  static const events::EventList list = {&gateway_syscall,        &backend_syscall,
                                         &gateway_signal,         &backend_signal,
                                         &gateway_process_exited, &backend_process_exited};
  return list;
}

}  // namespace fh::observers::syscall_events
