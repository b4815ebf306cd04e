// A fault family of the fake gateway, one unit per file in fake-gateways/faults/: its keys of
// topology.gateway with their reader, its documentation and the events it publishes; a bug
// emulation is a family whose unit is a GatewayBug (the value of `bug:`). families.cpp is the
// one explicit list.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fake-gateways/faults/bugs.hpp"
#include "language/family.hpp"
#include "language/yaml_reader.hpp"

namespace fh::fake {

struct GatewayConfig;

struct GatewayFamily {
  std::string name;                 // "terminator_timing"; a bug emulation: its `bug:` value
  std::string title;                // "The empty STDIN (stdin terminator)"
  std::string doc;                  // a paragraph for `list --faults` and the docs
  std::vector<language::Key> keys;  // its keys of topology.gateway
  events::EventList events;         // what it publishes of its own
  /// Reads its keys of topology.gateway into `config`; nullptr: it has none.
  void (*read_keys)(language::yaml::MapReader& gateway, GatewayConfig& config) = nullptr;
  /// A bug emulation: makes it; nullptr for other families.
  std::shared_ptr<const GatewayBug> (*bug)() = nullptr;
  /// A bug emulation: what it needs of the rest of the configuration ("" when it is fine).
  std::string (*needs)(const GatewayConfig& config) = nullptr;

  language::FamilyDoc describe() const;
};

/// Every family, in the order of docs/faults-gateway.md (faults/families.cpp).
const std::vector<const GatewayFamily*>& gateway_families();
/// The trigger grammar of the gateway's timing keys (stdin_terminator, abort).
language::TriggerRules gateway_trigger_rules(std::string what, bool stdin_bytes,
                                             std::string default_text);
/// Reads every family's keys of a fake gateway from its mapping.
void read_gateway_keys(language::yaml::MapReader& gateway, GatewayConfig& config);

}  // namespace fh::fake
