// An event's declaration: the one place its party, name and meaning are written. Every event
// a party publishes is declared once, beside its publisher (the fake backend's in
// fake-backends/backend_events.hpp, each fault family's in its own file, the client's, the
// observers', the harness's in harness_events.hpp), and published through the declaration,
// never through a string. The scenario loader checks every event a scenario names against the
// declarations (scenario/vocabulary.hpp collects them all), so a misspelt name is a load error
// instead of a check that can never fail.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fh::events {

/// Who publishes an event, which decides in which topologies a scenario can see it at all.
enum class Source {
  client,            // the harness's HTTP client: every run
  harness,           // the harness itself: every run
  real_peer,         // the harness about a real program (readiness): only with one
  process_faults,    // the harness, acting on process_faults of a real program
  syscall_faults,    // the harness, relaying strace --inject of syscall_faults
  syscall_observer,  // the harness, starting observe.syscalls
  fake_backend,      // only when topology.backend is the embedded fake
  fake_gateway,      // only when topology.gateway is the embedded fake
  wire,              // only with observe: {wire: true}
  backend_syscalls,  // only with observe: {syscalls: backend}
  gateway_syscalls,  // only with observe: {syscalls: gateway}
};

/// Whether events of `source` carry the kernel's times, on the system clock (pcap's packet
/// stamps, strace -ttt), mapped onto the run's steady clock after the run; every other event
/// is stamped on the steady clock as it is published.
constexpr bool on_system_clock(Source source) {
  return source == Source::wire || source == Source::backend_syscalls ||
         source == Source::gateway_syscalls;
}

/// "the embedded fake backend", "observe: {wire: true}", ...: what a Source needs, for people.
std::string_view source_needs(Source source);

struct EventDecl {
  std::string_view party;    // "client", "gateway", "backend", "harness", "wire"
  std::string_view name;     // "params_complete"; a family's fixed part: "syscall:"
  Source source;             //
  std::string_view meaning;  // one line: when it is published
  std::string_view value;    // what Event::value carries; empty: nothing
  std::string_view detail;   // what Event::detail carries; empty: nothing
  /// A family of events with a variable part (`syscall:<name>`, `fault:<verb>`): `variable`
  /// names the part for people ("<syscall>") and `values`, when given, lists the parts that
  /// exist (the loader rejects others and suggests among them).
  std::string_view variable = {};
  std::vector<std::string> (*values)() = nullptr;

  bool is_family() const { return !variable.empty(); }
  /// "backend.params_complete", "gateway.syscall:<syscall>".
  std::string qualified() const;
  /// The published name of a member of the family: name + part ("syscall:" + "writev").
  std::string member(std::string_view part) const { return std::string(name) + std::string(part); }
};

/// The declarations of one publisher, in the order its documentation lists them.
using EventList = std::vector<const EventDecl*>;

}  // namespace fh::events
