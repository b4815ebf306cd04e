// The one explicit list of the fake backend's fault families, in the order of
// docs/faults-backend.md, and the readers that go through it: `faults:` (trigger + verb) and
// every family's keys of topology.backend. A new family is one line here.
#include <yaml-cpp/yaml.h>

#include "fake-backends/backend_events.hpp"
#include "fake-backends/fake_backend.hpp"

namespace fh::fake {

const BackendFamily& closing_family();
const BackendFamily& stalls_family();
const BackendFamily& early_end_request_family();
const BackendFamily& odd_records_family();
const BackendFamily& record_shapes_family();
const BackendFamily& response_end_family();
const BackendFamily& connection_policy_family();
const BackendFamily& lifetime_family();

const std::vector<const BackendFamily*>& backend_families() {
  static const std::vector<const BackendFamily*> families = {
      &closing_family(),           &stalls_family(),        &early_end_request_family(),
      &odd_records_family(),       &record_shapes_family(), &response_end_family(),
      &connection_policy_family(), &lifetime_family(),
  };
  return families;
}

namespace {

using namespace language;
using namespace language::yaml;

std::vector<std::string> verb_names() {
  std::vector<std::string> names;
  for (const auto* family : backend_families())
    for (const auto* verb : family->verbs) names.push_back(verb->doc.name);
  return names;
}

BackendFault read_fault(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "backend fault");
  BackendFault fault;
  fault.at = read_trigger(r, backend_trigger_rules());
  const auto name = one_of(r.require("do"), file, "do", verb_names());
  fault.verb = find_backend_verb(name);
  fault.action = fault.verb->read(r);
  r.finish();
  return fault;
}

}  // namespace

const TriggerRules& backend_trigger_rules() {
  static const TriggerRules rules{"backend",
                                  "backend fault",
                                  {Counter::body_bytes, Counter::stdin_bytes},
                                  /*request=*/true,
                                  /*elapsed=*/false,
                                  /*mid_record=*/true,
                                  ""};
  return rules;
}

const BackendVerb* find_backend_verb(const std::string& name) {
  for (const auto* family : backend_families())
    for (const auto* verb : family->verbs)
      if (verb->doc.name == name) return verb;
  return nullptr;
}

void read_backend_keys(MapReader& r, BackendConfig& config) {
  if (r.has("faults")) {
    auto faults = r.get("faults");
    if (!faults.IsSequence()) bad_value(faults, r.file(), "faults", "a list of faults");
    for (const auto& f : faults) config.faults.push_back(read_fault(f, r.file()));
  }
  for (const auto* family : backend_families())
    if (family->read_keys) family->read_keys(r, config);
}

BackendConfig backend_config_from_yaml(const std::string& yaml, const std::string& origin) {
  BackendConfig config;
  const YAML::Node node = YAML::Load(yaml);
  MapReader r(node, origin, "backend");
  read_backend_keys(r, config);
  r.finish();
  return config;
}

language::FamilyDoc BackendFamily::describe() const {
  const std::string where =
      verbs.empty() ? "topology.backend" : "topology.backend; verbs: topology.backend.faults[].do";
  language::FamilyDoc doc{"backend", name, title, this->doc, where, {}, keys, events};
  for (const auto* verb : verbs) doc.verbs.push_back(verb->doc);
  return doc;
}

std::vector<std::string> backend_events::fault_verbs() {
  return verb_names();
}

const events::EventList& backend_events::all() {
  static const events::EventList list = [] {
    events::EventList out = {&accepted,
                             &begin_request,
                             &params_complete,
                             &stdin_terminator_received,
                             &headers_sent,
                             &end_request_sent,
                             &abort_request,
                             &get_values,
                             &unknown_type_sent,
                             &unknown_role,
                             &cant_mpx_conn,
                             &ignored_record,
                             &param_duplicated,
                             &param_name_empty,
                             &content_length_mismatch,
                             &request_released,
                             &peer_closed,
                             &connection_closed,
                             &write_error,
                             &read_error,
                             &protocol_error,
                             &request_dropped,
                             &response_abandoned,
                             &accept_error,
                             &fault,
                             &fault_skipped};
    for (const auto* family : backend_families())
      out.insert(out.end(), family->events.begin(), family->events.end());
    return out;
  }();
  return list;
}

}  // namespace fh::fake
