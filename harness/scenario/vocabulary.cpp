#include "scenario/vocabulary.hpp"

#include <algorithm>

#include "client/client_events.hpp"
#include "events/harness_events.hpp"
#include "fake-backends/backend_events.hpp"
#include "fake-backends/fake_backend.hpp"
#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"
#include "fake-gateways/gateway_events.hpp"
#include "language/yaml_reader.hpp"
#include "observers/syscall_events.hpp"
#include "observers/wire_events.hpp"
#include "scenario/peer_faults.hpp"
#include "scenario/sections.hpp"

namespace fh::scenario {

const events::EventList& declared_events() {
  static const events::EventList list = [] {
    events::EventList out;
    for (const auto* part : {&client::client_events::all(), &fake::gateway_events::all(),
                             &fake::backend_events::all(), &observers::syscall_events::all(),
                             &events::harness_events::all(), &observers::wire_events::all()})
      out.insert(out.end(), part->begin(), part->end());
    // The lanes' order: client, gateway, backend, harness, wire (stable within a party).
    const std::vector<std::string_view> order = {"client", "gateway", "backend", "harness", "wire"};
    std::stable_sort(out.begin(), out.end(), [&](const auto* a, const auto* b) {
      return std::find(order.begin(), order.end(), a->party) <
             std::find(order.begin(), order.end(), b->party);
    });
    return out;
  }();
  return list;
}

const events::EventDecl* find_event(const events::Selector& selector) {
  for (const auto* decl : declared_events()) {
    if (decl->party != selector.party) continue;
    if (!decl->is_family() ? selector.name == decl->name
                           : selector.name.size() > decl->name.size() &&
                                 selector.name.compare(0, decl->name.size(), decl->name) == 0)
      return decl;
  }
  return nullptr;
}

std::string family_member_problem(const events::EventDecl& decl, const events::Selector& selector) {
  if (!decl.is_family() || !decl.values) return {};
  const auto part = selector.name.substr(decl.name.size());
  const auto values = decl.values();
  if (std::find(values.begin(), values.end(), part) != values.end()) return {};
  std::string list;
  for (const auto& v : values) list += (list.empty() ? "" : ", ") + v;
  const auto hint = language::yaml::closest(part, values);
  return "'" + selector.to_string() + "': " + decl.qualified() + " has no member '" + part + "'" +
         (hint.empty()
              ? ""
              : " (did you mean '" + std::string(decl.party) + "." + decl.member(hint) + "'?)") +
         "; it has " + list;
}

std::string suggest_event(const events::Selector& selector) {
  std::vector<std::string> names;
  for (const auto* decl : declared_events()) {
    if (!decl->is_family()) {
      names.push_back(decl->qualified());
    } else if (decl->values) {
      for (const auto& v : decl->values())
        names.push_back(std::string(decl->party) + "." + decl->member(v));
    }
  }
  auto hint = language::yaml::closest(selector.to_string(), names, 4);
  if (hint.empty()) {
    // Nothing close as a whole: an event of the same party that starts with the same word
    // (backend.params_received -> backend.params_complete).
    const auto word = selector.name.substr(0, selector.name.find('_'));
    for (const auto& name : names)
      if (name.rfind(selector.party + "." + word + "_", 0) == 0) {
        hint = name;
        break;
      }
  }
  return hint.empty() ? "" : "did you mean '" + hint + "'?";
}

std::string unobservable_because(const events::EventDecl& decl, const Scenario& s) {
  using events::Source;
  const auto needs = std::string(events::source_needs(decl.source));
  const auto who = [](const std::string& role, const std::string& kind) {
    return "this scenario's " + role + " is " +
           (kind == "command" ? std::string("a command") : kind + " (a real program)");
  };
  const bool real_backend = !s.backend.is_fake(), real_gateway = !s.gateway.is_fake();
  switch (decl.source) {
    case Source::client:
    case Source::harness:
      return {};
    case Source::fake_backend:
      if (!real_backend) return {};
      return "it is an event of the embedded fake backend, and " + who("backend", s.backend.kind) +
             ": judge it by what the harness sees of it (client.*, wire.* with observe: {wire: "
             "true}, backend.syscall:* with observe: {syscalls: backend})";
    case Source::fake_gateway:
      if (!real_gateway) return {};
      return "it is an event of the embedded fake gateway, and " + who("gateway", s.gateway.kind) +
             ": judge it by what the harness sees of it (client.*, wire.* with observe: {wire: "
             "true}, gateway.syscall:* with observe: {syscalls: gateway})";
    case Source::real_peer:
      if (real_backend || real_gateway) return {};
      return "it needs " + needs + ", and both parties are the embedded fakes";
    case Source::process_faults:
      if (!s.backend.process_faults.empty() || !s.gateway.process_faults.empty()) return {};
      return "it needs " + needs + ", and this scenario has none";
    case Source::syscall_faults:
      if (!s.backend.syscall_faults.empty() || !s.gateway.syscall_faults.empty()) return {};
      return "it needs " + needs + ", and this scenario has none";
    case Source::syscall_observer:
      if (s.observe.gateway_syscalls || s.observe.backend_syscalls) return {};
      return "it needs " + needs;
    case Source::wire:
      if (s.observe.wire) return {};
      return "it needs the wire observer: add observe: {wire: true}";
    case Source::gateway_syscalls:
      if (s.observe.gateway_syscalls) return {};
      return "it needs the gateway's syscalls observed: add observe: {syscalls: gateway}";
    case Source::backend_syscalls:
      if (s.observe.backend_syscalls) return {};
      return "it needs the backend's syscalls observed: add observe: {syscalls: backend}";
  }
  return {};
}

std::vector<language::FamilyDoc> fault_families() {
  std::vector<language::FamilyDoc> out;
  for (const auto* f : fake::backend_families()) out.push_back(f->describe());
  for (const auto* f : fake::gateway_families()) out.push_back(f->describe());
  for (auto& f : client_families()) out.push_back(std::move(f));
  for (auto& f : peer_fault_families()) out.push_back(std::move(f));
  return out;
}

}  // namespace fh::scenario
