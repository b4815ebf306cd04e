// The one reader of event names in scenarios. Every place a scenario names an event (a
// trigger's `at`, a stall's `until`, a check's `that`, `after`, `before`, `value_equals`, ...)
// reads it here: the syntax is checked at once, and the name goes into the load context, where
// the loader checks it against the declarations (scenario/vocabulary.hpp) and the topology
// once the whole scenario is read.
#pragma once

#include <string>
#include <string_view>

#include "events/bus.hpp"
#include "language/yaml_reader.hpp"

namespace fh::language {

/// The parties of the bus, in the order of the timeline's lanes.
inline constexpr std::string_view kParties[] = {"client", "gateway", "backend", "harness", "wire"};

struct EventNameRules {
  /// A bare name (no "party.") means this party's event; empty: the party is required.
  std::string_view own_party = {};
  bool if_observable = false;  // see EventRef::if_observable
  bool trigger = false;        // see EventRef::trigger
};

/// "gateway.stdin_terminator_sent" (or a bare name of rules.own_party) -> its selector, party
/// filled in. Throws ScenarioError for a malformed name; records it for the later checks.
events::Selector read_event_name(const YAML::Node& node, const std::string& file,
                                 const std::string& what, EventNameRules rules = {});

}  // namespace fh::language
