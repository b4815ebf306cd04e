// A fault family of the fake backend, one unit per file in fake-backends/faults/ (the model:
// toxiproxy's toxics/): its verbs (values of `do:` in `faults:`) with their keys and action,
// its keys of topology.backend with their reader, its documentation and the events it
// publishes. families.cpp is the one explicit list.
//
// Adding a verb to a family: a FaultAction subclass, its reader and a BackendVerb row in the
// family's file, and a test beside it (docs/faults-backend.md "Adding a verb" shows it).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fake-backends/faults/seam.hpp"
#include "language/family.hpp"
#include "language/trigger.hpp"
#include "language/yaml_reader.hpp"

namespace fh::fake {

struct BackendConfig;

/// A verb with its parameters (read from its keys): what it does when its trigger fires.
class FaultAction {
 public:
  virtual ~FaultAction() = default;
  /// Acts on the connection its trigger chose; `request_id` is the request it fired for (0:
  /// a connection-level trigger).
  virtual void act(FaultSeam& connection, std::uint16_t request_id) const = 0;
  /// Its parameters for the fault:<verb> event's detail, each with a leading space.
  virtual std::string parameters() const { return {}; }
};

using VerbReader = std::shared_ptr<const FaultAction> (*)(language::yaml::MapReader& fault);

struct BackendVerb {
  language::Verb doc;  // name (the value of `do:`), one line, its keys
  VerbReader read;     // reads its keys from the fault's mapping (the trigger is read apart)
};

struct BackendFamily {
  std::string name;   // "closing"
  std::string title;  // "Closing (FIN or RST) at any point"
  std::string doc;    // a paragraph for `list --faults` and the docs
  std::vector<const BackendVerb*> verbs;
  std::vector<language::Key> keys;  // its keys of topology.backend
  events::EventList events;         // what it publishes besides fault:<verb>
  /// Reads the family's keys of topology.backend into `config`; nullptr: it has none.
  void (*read_keys)(language::yaml::MapReader& backend, BackendConfig& config) = nullptr;

  language::FamilyDoc describe() const;
};

/// One entry of `faults:`: when, and the verb with its parameters.
struct BackendFault {
  language::Trigger at;
  const BackendVerb* verb = nullptr;
  std::shared_ptr<const FaultAction> action;
};

/// Every family, in the order of docs/faults-backend.md (faults/families.cpp).
const std::vector<const BackendFamily*>& backend_families();
/// The trigger grammar as backend faults take it.
const language::TriggerRules& backend_trigger_rules();
/// The verb named `name`, or nullptr.
const BackendVerb* find_backend_verb(const std::string& name);

/// Reads every family's keys of a fake backend (and `faults:`) from its mapping.
void read_backend_keys(language::yaml::MapReader& backend, BackendConfig& config);

}  // namespace fh::fake
