// topology.backend keys of a fake backend. See README "Scenario files" for the language.
#include <map>

#include "scenario/sections.hpp"

namespace fh::scenario {
namespace {

using namespace yaml;

const std::map<std::string, fake::BackendEvent> kBackendEvents = {
    {"accepted", fake::BackendEvent::accepted},
    {"begin_request", fake::BackendEvent::begin_request},
    {"params_received", fake::BackendEvent::params_received},
    {"stdin_received", fake::BackendEvent::stdin_received},
    {"headers_sent", fake::BackendEvent::headers_sent},
    {"end_request_sent", fake::BackendEvent::end_request_sent},
};

fake::BackendFault read_backend_fault(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "backend fault");
  fake::BackendFault fault;
  auto at = r.require("at");
  if (at.IsMap()) {
    MapReader a(at, file, "fault 'at'");
    fault.at = fake::BackendEvent::body_bytes;
    fault.bytes = as_size(a.require("body_bytes"), file, "body_bytes");
    a.finish();
  } else {
    std::vector<std::string> names;
    for (const auto& [name, _] : kBackendEvents) names.push_back(name);
    names.push_back("{body_bytes: N}");
    fault.at = kBackendEvents.at(one_of(at, file, "at", names));
  }
  const auto action = one_of(r.require("do"), file, "do", {"close", "reset", "stall"});
  fault.action = action == "close"   ? fake::BackendAction::close
                 : action == "reset" ? fake::BackendAction::reset
                                     : fake::BackendAction::stall;
  if (r.has("delay_ms")) fault.delay_ms = as_ms(r.get("delay_ms"), file, "delay_ms");
  if (r.has("stall_ms")) {
    if (fault.action != fake::BackendAction::stall)
      throw ScenarioError(mark_of(r.get("stall_ms"), file), "stall_ms only applies to do: stall");
    fault.stall_ms = as_ms(r.get("stall_ms"), file, "stall_ms");
  }
  if (r.has("request")) {
    auto index = as_uint(r.get("request"), file, "request", UINT32_MAX);
    if (index == 0) bad_value(r.get("request"), file, "request", "a 1-based request number");
    fault.request_index = static_cast<std::uint32_t>(index);
  }
  r.finish();
  return fault;
}

}  // namespace

void read_fake_backend(MapReader& r, fake::BackendConfig& config) {
  const auto& file = r.file();
  if (r.has("mpxs_conns")) config.mpxs_conns = as_bool(r.get("mpxs_conns"), file, "mpxs_conns");
  if (r.has("faults")) {
    auto faults = r.get("faults");
    if (!faults.IsSequence()) bad_value(faults, file, "faults", "a list of faults");
    for (const auto& f : faults) config.faults.push_back(read_backend_fault(f, file));
  }
}

}  // namespace fh::scenario
