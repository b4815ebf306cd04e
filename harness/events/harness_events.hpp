// The events of party "harness": what the harness itself did in a run (readiness of real
// programs, process and syscall faults, observers, its own failures). Declared once here.
#pragma once

#include "events/declaration.hpp"

namespace fh::events::harness_events {

inline constexpr EventDecl backend_ready{"harness",
                                         "backend_ready",
                                         Source::real_peer,
                                         "the real backend program answered its readiness request",
                                         "",
                                         "kind and address"};
inline constexpr EventDecl gateway_ready{"harness",
                                         "gateway_ready",
                                         Source::real_peer,
                                         "the real gateway program answered its readiness request",
                                         "",
                                         "kind and address"};
inline constexpr EventDecl syscalls_observed{"harness",
                                             "syscalls_observed",
                                             Source::syscall_observer,
                                             "strace attached for observe.syscalls",
                                             "strace's pid",
                                             "role, kind, traced pids, log file"};
inline constexpr EventDecl process_frozen{"harness",
                                          "process_frozen",
                                          Source::process_faults,
                                          "a process fault sent SIGSTOP to the program's group",
                                          "pgid",
                                          "role kind pgid N SIG<NAME> (what fired it)"};
inline constexpr EventDecl process_thawed{
    "harness",
    "process_thawed",
    Source::process_faults,
    "a frozen group got SIGCONT (for_ms over, or the end of the run)",
    "pgid",
    "role kind pgid N SIGCONT (why)"};
inline constexpr EventDecl process_killed{"harness",
                                          "process_killed",
                                          Source::process_faults,
                                          "a process fault sent SIGKILL to the program's group",
                                          "pgid",
                                          "role kind pgid N SIGKILL (what fired it)"};
inline constexpr EventDecl process_signalled{
    "harness",
    "process_signalled",
    Source::process_faults,
    "a process fault sent its graceful stop or a named signal to the group",
    "pgid",
    "role kind pgid N SIG<NAME> (what fired it)"};
inline constexpr EventDecl syscall_fault_armed{"harness",
                                               "syscall_fault_armed",
                                               Source::syscall_faults,
                                               "strace --inject traces every process of the group",
                                               "strace's pid",
                                               "role kind pids: inject expressions (log file)"};
inline constexpr EventDecl syscall_fault_injected{
    "harness",
    "syscall_fault_injected",
    Source::syscall_faults,
    "strace tampered with one call (INJECTED or DELAYED), published as it happens",
    "pid",
    "role kind pid N: the call as strace printed it"};
inline constexpr EventDecl peer_stop_forced{
    "harness",
    "peer_stop_forced",
    Source::real_peer,
    "at teardown the program outlived its grace after its stop signal: its group was killed",
    "",
    "role kind, the signal it ignored"};
inline constexpr EventDecl peer_escaped{
    "harness",
    "peer_escaped",
    Source::real_peer,
    "at teardown processes of the program that had left its process group (setsid, a double "
    "fork) were found by their custody mark and killed",
    "processes killed",
    "role kind"};
inline constexpr EventDecl clock_stepped{
    "harness",
    "clock_stepped",
    Source::harness,
    "the system clock moved against the steady clock during a run that observes the wire or "
    "syscalls (their times are the system clock's): checks joining them with the parties' "
    "events cannot be judged, and a failing one is ERROR",
    "microseconds moved",
    "by how much, between the run's start and its end"};
inline constexpr EventDecl loop_starved{
    "harness",
    "loop_starved",
    Source::harness,
    "the machine was short of CPU during the run: the harness's loop waited for one longer "
    "than runner::kStarvationTolerance at once, so timers ran late (the harness's and the "
    "programs'); a request or check that missed a timing bound by less than the time waited "
    "is ERROR",
    "milliseconds waited in all",
    "how long, and what it means"};
inline constexpr EventDecl internal_error{
    "harness",
    "internal_error",
    Source::harness,
    "a fake or the client failed with an exception that is not a cancellation: the run is ERROR",
    "",
    "party: what failed"};

inline const EventList& all() {
  static const EventList list = {&backend_ready,     &gateway_ready,       &syscalls_observed,
                                 &process_frozen,    &process_thawed,      &process_killed,
                                 &process_signalled, &syscall_fault_armed, &syscall_fault_injected,
                                 &peer_stop_forced,  &peer_escaped,        &clock_stepped,
                                 &loop_starved,      &internal_error};
  return list;
}

}  // namespace fh::events::harness_events
