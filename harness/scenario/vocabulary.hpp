// The scenario language's vocabulary in one place: every declared event of every party and
// every fault family, gathered from where each is declared (the fakes, the client, the
// observers, the harness). The loader checks names against it, `fcgi-harness list --events /
// --faults` prints it, `fcgi-harness schema` turns it into a JSON Schema, and a test holds
// docs/ to it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "events/bus.hpp"
#include "language/family.hpp"
#include "scenario/model.hpp"

namespace fh::scenario {

/// Every declared event, party by party (client, gateway, backend, harness, wire).
const events::EventList& declared_events();

/// The declaration a selector names (a family's member too); nullptr when none.
const events::EventDecl* find_event(const events::Selector& selector);
/// A family member whose part is not one of its values: the message why; "" otherwise.
std::string family_member_problem(const events::EventDecl& decl, const events::Selector& selector);
/// "did you mean 'backend.params_complete'?" for an unknown name; "" when nothing is close.
std::string suggest_event(const events::Selector& selector);

/// Why `scenario`'s topology cannot produce `decl` ("" when it can).
std::string unobservable_because(const events::EventDecl& decl, const Scenario& scenario);

/// Every fault family of every party: backend, gateway, client, process and syscall faults.
std::vector<language::FamilyDoc> fault_families();

}  // namespace fh::scenario
