// The one explicit list of the fake gateway's fault families, in the order of
// docs/faults-gateway.md, and the reader that goes through it. The bug emulations are read
// from the one `bug:` key (a name or a list) and kept in this list's order, which is the order
// their hooks are asked in. A new family is one line here.
#include <yaml-cpp/yaml.h>

#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"
#include "fake-gateways/gateway_events.hpp"

namespace fh::fake {

const GatewayFamily& personalities_family();
const GatewayFamily& backend_connection_family();
const GatewayFamily& terminator_timing_family();
const GatewayFamily& body_shaping_family();
const GatewayFamily& request_records_family();
const GatewayFamily& abort_family();
const GatewayFamily& backpressure_family();
const GatewayFamily& probes_family();
const GatewayFamily& relay_modes_family();
const GatewayFamily& lighttpd_2796_family();
const GatewayFamily& fail_on_stdin_write_error_family();
const GatewayFamily& nginx_empty_200_family();

const std::vector<const GatewayFamily*>& gateway_families() {
  static const std::vector<const GatewayFamily*> families = {
      &personalities_family(),  // first: its defaults give way to the explicit keys
      &backend_connection_family(),
      &terminator_timing_family(),
      &body_shaping_family(),
      &request_records_family(),
      &abort_family(),
      &backpressure_family(),
      &probes_family(),
      &relay_modes_family(),
      &lighttpd_2796_family(),
      &fail_on_stdin_write_error_family(),
      &nginx_empty_200_family(),
  };
  return families;
}

namespace {

using namespace language;
using namespace language::yaml;

std::vector<std::string> bug_names() {
  std::vector<std::string> out;
  for (const auto* family : gateway_families())
    if (family->bug) out.push_back(family->name);
  return out;
}

void read_bugs(MapReader& r, GatewayConfig& config) {
  if (!r.has("bug")) return;
  const auto node = r.get("bug");
  const auto names = string_or_list(node, r.file(), "bug");
  const auto known = bug_names();
  for (const auto& name : names)
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      bad_value(node, r.file(), "bug", list + " (or a list)");
    }
  for (const auto* family : gateway_families()) {
    if (!family->bug || std::find(names.begin(), names.end(), family->name) == names.end())
      continue;
    if (family->needs)
      if (const auto why = family->needs(config); !why.empty())
        throw ScenarioError(mark_of(node, r.file()), why);
    config.bugs.push_back(family->bug());
  }
}

}  // namespace

TriggerRules gateway_trigger_rules(std::string what, bool stdin_bytes, std::string default_text) {
  TriggerRules rules{"gateway", std::move(what), {}, false, false, false, std::move(default_text)};
  if (stdin_bytes) rules.counters.push_back(Counter::stdin_bytes);
  return rules;
}

void read_gateway_keys(MapReader& r, GatewayConfig& config) {
  for (const auto* family : gateway_families())
    if (family->read_keys) family->read_keys(r, config);
  read_bugs(r, config);
}

GatewayConfig gateway_config_from_yaml(const std::string& yaml, const std::string& origin) {
  GatewayConfig config;
  const YAML::Node node = YAML::Load(yaml);
  MapReader r(node, origin, "gateway");
  read_gateway_keys(r, config);
  r.finish();
  return config;
}

language::FamilyDoc GatewayFamily::describe() const {
  language::FamilyDoc doc{"gateway", name, title, this->doc, "topology.gateway", {}, keys, events};
  if (bug) doc.keys.push_back({"bug", shapes::choice({name}), "this emulation (one of `bug:`)"});
  return doc;
}

std::vector<std::string> gateway_events::answered_statuses() {
  return {"200", "400", "502", "503", "504"};
}

const events::EventList& gateway_events::all() {
  static const events::EventList list = {&client_accepted,
                                         &request_head,
                                         &client_error,
                                         &client_closed,
                                         &accept_error,
                                         &backend_connected,
                                         &backend_connect_failed,
                                         &backend_connection_reused,
                                         &backend_connection_idle,
                                         &backend_connection_dropped,
                                         &backend_bytes_written,
                                         &params_sent,
                                         &stdin_bytes_sent,
                                         &stdin_terminator_sent,
                                         &stdin_terminator_withheld,
                                         &abort_request_sent,
                                         &backend_closed_by_gateway,
                                         &backend_write_error,
                                         &backend_read_error,
                                         &backend_read_paused,
                                         &backend_read_resumed,
                                         &stderr_received,
                                         &end_request_received,
                                         &awaiting_backend_close,
                                         &backend_closed,
                                         &backend_close_timeout,
                                         &backend_record_ignored,
                                         &backend_error,
                                         &backend_timeout,
                                         &response_head_sent,
                                         &response_complete,
                                         &excess_body,
                                         &client_truncated,
                                         &answered,
                                         &bug_emulated,
                                         &anchor_unavailable,
                                         &probe_sent,
                                         &probe_timeout,
                                         &probe_connect_failed,
                                         &probe_connection_closed,
                                         &get_values_result_received,
                                         &unknown_type_received,
                                         &multiplex_claim_broken,
                                         &stdout_unterminated,
                                         &end_request_late,
                                         &stdout_terminator_received};
  return list;
}

}  // namespace fh::fake
