#include "scenario/schema.hpp"

#include <algorithm>
#include <set>

#include "fake-backends/fake_backend.hpp"
#include "fake-gateways/faults/family.hpp"
#include "peers/backends.hpp"
#include "peers/gateways.hpp"
#include "peers/generic.hpp"
#include "scenario/peer_faults.hpp"
#include "scenario/sections.hpp"
#include "scenario/vocabulary.hpp"

namespace fh::scenario {

namespace {

using nlohmann::json;
using namespace language;

json object_of(const std::vector<Key>& keys, std::vector<std::string> required = {}) {
  return shapes::mapping(keys, std::move(required)).schema;
}

json described(json schema, const std::string& description) {
  schema["description"] = description;
  return schema;
}

/// The event names a scenario can write: every declared event as party.name, families as a
/// pattern; `party`: also that party's events as bare names (a trigger of its own).
json event_names(const std::string& party = {}) {
  std::vector<std::string> names;
  json patterns = json::array();
  for (const auto* decl : declared_events()) {
    const std::string qualified = std::string(decl->party) + "." + std::string(decl->name);
    const bool own = !party.empty() && decl->party == party;
    if (!decl->is_family()) {
      names.push_back(qualified);
      if (own) names.emplace_back(decl->name);
      continue;
    }
    if (decl->values) {
      for (const auto& v : decl->values()) {
        names.push_back(qualified + v);
        if (own) names.push_back(decl->member(v));
      }
    } else {
      patterns.push_back(json{{"pattern", "^" + std::string(decl->party) + "\\." +
                                              std::string(decl->name) + "[A-Za-z0-9_]+$"}});
    }
  }
  json any = json::array({json{{"enum", names}}});
  for (auto& p : patterns) any.push_back(json{{"type", "string"}, {"pattern", p["pattern"]}});
  return json{{"type", "string"},
              {"anyOf", any},
              {"description", "a declared event (fcgi-harness list --events)"}};
}

json range_ms() {
  return object_of({{"min", shapes::ms(), ""}, {"max", shapes::ms(), ""}});
}

json expectation() {
  const auto status = shapes::integer(kStatusMin, kStatusMax);
  return object_of(
      {{"grade", shapes::choice({"PASS", "NON-STRICT", "INFORMATIONAL", "FAIL"}),
        "the grade this outcome earns"},
       {"because", shapes::text(), "why, shown in the verdict"},
       {"status", shapes::either({status, shapes::list_of(status)}), "any of these statuses"},
       {"outcome",
        shapes::choice({"complete", "truncated", "closed_before_response", "connect_failed",
                        "protocol_error", "aborted", "hung"}),
        "how the exchange ended (default complete)"},
       {"body", shapes::choice({"probe"}), "the body the probe contract promises"},
       {"body_bytes", shapes::size(), "exactly this many body bytes"},
       {"body_sha256", shapes::text(), "the body's SHA-256 (hex)"},
       {"body_contains", shapes::either({shapes::text(), shapes::list_of(shapes::text())}),
        "substrings of the first 64 KiB"},
       {"headers", {"name: value", json{{"type", "object"}}}, "response headers"},
       {"first_byte_ms", {"range", range_ms()}, ""},
       {"first_body_byte_ms", {"range", range_ms()}, ""},
       {"last_byte_ms", {"range", range_ms()}, ""},
       {"streamed_ms", {"range", range_ms()}, "last byte minus first body byte"}},
      {"grade"});
}

json check() {
  const auto event = shapes::event();
  return object_of(
      {{"that", event, "the events checked"},
       {"detail_contains", shapes::text(), "only events whose detail contains this"},
       {"count",
        shapes::either({shapes::integer(0, UINT32_MAX),
                        shapes::mapping({{"min", shapes::integer(0, UINT32_MAX), ""},
                                         {"max", shapes::integer(0, UINT32_MAX), ""}})}),
        "how many"},
       {"after", event, "with within_ms: the first `that` after this event"},
       {"within_ms", shapes::ms(), "comes within this long after `after`"},
       {"if_after_happened", shapes::boolean(),
        "an `after` event that never came is no violation (judged elsewhere)"},
       {"before", event, "the first `that` precedes the first of these"},
       {"value_equals", event, "the first `that`'s value equals this event's"},
       {"otherwise", shapes::choice({"FAIL", "NON-STRICT", "INFORMATIONAL"}),
        "the grade when it does not hold (default FAIL)"},
       {"because", shapes::text(), ""},
       {"if_observable", shapes::boolean(),
        "in a topology that cannot produce its events, judge nothing (SKIP) instead of a load "
        "error"}},
      {"that"});
}

json request() {
  std::vector<Key> client_keys;
  for (const auto& family : client_families())
    for (const auto& key : family.keys) client_keys.push_back(key);
  return object_of(
      {{"name", shapes::text(), "default r1, r2, ..."},
       {"method", shapes::text(), "upper-case HTTP method (default GET)"},
       {"path", shapes::text(), "absolute path without query (default /probe)"},
       {"probe",
        shapes::mapping({{"status", shapes::integer(kStatusMin, kStatusMax), ""},
                         {"size", shapes::size(), "response body bytes"},
                         {"chunk", shapes::size(), "bytes per write"},
                         {"delay_ms", shapes::ms(), "between chunks"},
                         {"first_byte_ms", shapes::ms(), "before the head"},
                         {"echo", shapes::boolean(), "the request body back"},
                         {"stderr", shapes::size(), "STDERR bytes"}}),
        "the probe app's query"},
       {"query", shapes::text(), "extra query string"},
       {"headers", {"name: value", json{{"type", "object"}}}, "request headers"},
       {"body",
        shapes::mapping(
            {{"size", shapes::size(), "generated bytes"}, {"text", shapes::text(), "this text"}}),
        "the request body"},
       {"body_encoding", shapes::choice({"content-length", "chunked"}), ""},
       {"body_chunk", shapes::size(), "chunk size when chunked"},
       {"client", shapes::mapping(client_keys), "the client's behaviour (faults-client.md)"},
       {"expect",
        {"expectations", json{{"type", "array"}, {"items", expectation()}}},
        "this request's own expectations"},
       {"load",
        shapes::mapping({{"count", shapes::integer(1, 10'000'000), "how many times"},
                         {"concurrency", shapes::integer(1, 1024), "at once (default 1)"},
                         {"per_connection", shapes::integer(1, 1'000'000),
                          "requests per kept-alive client connection (default 1)"},
                         {"max_latency_ms", shapes::ms(), "no response slower than this"},
                         {"p99_latency_ms", shapes::ms(), "the 99th percentile at most this"}},
                        {"count"}),
        "send it many times; every response judged (load checks)"}});
}

json peer_fault_lists() {
  json out = json::object();
  for (const auto& family : peer_fault_families()) {
    std::vector<Key> keys = family.keys;
    if (!family.verbs.empty()) {
      std::vector<std::string> verbs;
      for (const auto& v : family.verbs) verbs.push_back(v.name);
      keys.push_back({"do", shapes::choice(verbs), ""});
    }
    const std::string key = family.name == "process" ? "process_faults" : "syscall_faults";
    out[key] = json{{"type", "array"}, {"items", object_of(keys)}};
  }
  return out;
}

/// topology.gateway or topology.backend: the fake's family keys when kind is fake (or
/// absent), a real program's keys otherwise.
json party(const std::string& role, const std::vector<Key>& fake_keys,
           const std::vector<std::string>& real_kinds, const std::vector<std::string>& command_keys,
           bool backend) {
  std::vector<std::string> kinds = {"fake", "command"};
  kinds.insert(kinds.end(), real_kinds.begin(), real_kinds.end());
  if (backend) kinds.emplace_back(scenario::kExternalKind);
  json properties = json::object();
  properties["kind"] =
      described(json{{"enum", kinds}},
                backend ? "fake (default), a real program, command, or external (already running)"
                        : "fake (default), a real program, command");
  if (backend)
    properties["transport"] = described(json{{"enum", {"tcp", "unix"}}}, "tcp (default) or unix");
  std::vector<std::string> fake_names = {"kind"};
  if (backend) fake_names.push_back("transport");
  for (const auto& key : fake_keys) {
    properties[key.name] = key.shape.schema;
    if (!key.doc.empty()) properties[key.name]["description"] = key.doc;
    fake_names.push_back(key.name);
  }
  std::vector<std::string> real_names = {"kind", "knobs", "process_faults", "syscall_faults"};
  if (backend) {
    real_names.push_back("transport");
    real_names.push_back("address");
    properties["address"] =
        described(json{{"type", "string"}}, "kind external: tcp:HOST:PORT, HOST:PORT or unix:PATH");
  }
  properties["knobs"] = described(
      json{{"type", "object"},
           {"additionalProperties", json{{"type", json::array({"string", "number", "boolean"})}}}},
      "the real program's knobs (fcgi-harness list --peers)");
  const json fault_lists = peer_fault_lists();
  for (auto it = fault_lists.begin(); it != fault_lists.end(); ++it) properties[it.key()] = *it;
  for (const auto& key : command_keys) {
    properties[key] = json{{"type", json::array({"string", "number"})}};
    real_names.push_back(key);
  }
  const json is_fake = {
      {"anyOf", json::array({json{{"not", json{{"required", json::array({"kind"})}}}},
                             json{{"properties", json{{"kind", json{{"const", "fake"}}}}}}})}};
  return json{{"type", "object"},
              {"description", "the " + role},
              {"properties", properties},
              {"if", is_fake},
              {"then", json{{"propertyNames", json{{"enum", fake_names}}}}},
              {"else", json{{"propertyNames", json{{"enum", real_names}}}}}};
}

json topology() {
  std::vector<Key> gateway_keys, backend_keys;
  for (const auto* f : fake::gateway_families())
    for (const auto& k : f->keys) gateway_keys.push_back(k);
  std::vector<std::string> bugs;
  for (const auto* f : fake::gateway_families())
    if (f->bug) bugs.push_back(f->name);
  gateway_keys.push_back(
      {"bug", shapes::either({shapes::choice(bugs), shapes::list_of(shapes::choice(bugs))}),
       "emulated bugs"});
  for (const auto* f : fake::backend_families())
    for (const auto& k : f->keys) backend_keys.push_back(k);
  // faults: one verb per entry, the trigger's keys and the verb's own.
  json verbs = json::array();
  for (const auto* f : fake::backend_families()) {
    for (const auto* v : f->verbs) {
      auto keys = trigger_keys(fake::backend_trigger_rules());
      keys.push_back({"do", shapes::choice({v->doc.name}), v->doc.doc});
      for (const auto& k : v->doc.keys) keys.push_back(k);
      verbs.push_back(object_of(keys, {"at", "do"}));
    }
  }
  backend_keys.push_back({"faults",
                          {"faults", json{{"type", "array"}, {"items", json{{"oneOf", verbs}}}}},
                          "faults fired at triggers (docs/faults-backend.md)"});
  return object_of({{"client", shapes::choice({"harness"}), "the built-in client"},
                    {"gateway",
                     {"gateway", party("gateway", gateway_keys, peers::gateway_kinds(),
                                       peers::command_gateway_keys().keys, false)},
                     ""},
                    {"backend",
                     {"backend", party("backend", backend_keys, peers::backend_kinds(),
                                       peers::command_backend_keys().keys, true)},
                     ""}});
}

}  // namespace

nlohmann::json scenario_schema() {
  json defs = json::object();
  defs["event"] = event_names();
  for (const std::string party : {"client", "gateway", "backend"})
    defs[party + "_event"] = event_names(party);
  const json expectations = json{{"type", "array"}, {"minItems", 1}, {"items", expectation()}};
  json properties = {
      {"title", described(json{{"type", "string"}}, "one line")},
      {"description", described(json{{"type", "string"}}, "what and why")},
      {"id", described(json{{"type", "string"}, {"pattern", "^[A-Za-z0-9._/-]+$"}},
                       "default: the file name without .yaml")},
      {"tags", json{{"anyOf", {json{{"type", "string"}}, json{{"type", "array"}}}}}},
      {"deadline_ms", described(json{{"type", "integer"}, {"minimum", 1}},
                                "bounds every wait once the parties are up (default 10000)")},
      {"skip", described(json{{"type", "string"}}, "SKIP with this reason; nothing runs")},
      {"emulates",
       described(json{{"type", "string"}}, "the bug a variant emulates: FAIL expected")},
      {"parallel", described(json{{"type", "boolean"}}, "start all requests together")},
      {"certify",
       object_of(
           {{"id",
             {"party/section/slug",
              json{{"type", "string"}, {"pattern", "^(backend|gateway)/[a-z0-9.-]+/[a-z0-9-]+$"}}},
             "e.g. backend/3.3/padding-accepted"},
            {"level", shapes::choice({"MUST", "SHOULD", "FIELD"}), ""},
            {"requirement", shapes::text(), "quoted briefly, with its section"},
            {"bug", shapes::text(), "the field bug (required for FIELD)"}},
           {"id", "level", "requirement"})},
      {"observe",
       object_of({{"wire", shapes::boolean(), "capture the run's TCP legs (wire.* events)"},
                  {"syscalls",
                   shapes::either({shapes::choice({"gateway", "backend"}),
                                   shapes::list_of(shapes::choice({"gateway", "backend"}))}),
                   "strace these parties (<party>.syscall:* events)"}})},
      {"topology", topology()},
      {"requests", json{{"type", "array"}, {"minItems", 1}, {"items", request()}}},
      {"expect", expectations},
      {"checks", json{{"type", "array"}, {"minItems", 1}, {"items", check()}}},
      {"variants", described(json{{"type", "object"},
                                  {"additionalProperties",
                                   object_of({{"about", shapes::text(), ""},
                                              {"set",
                                               {"scenario keys", json{{"type", "object"}}},
                                               "merged into the scenario"}})}},
                             "name -> {about, set}")},
  };
  return json{{"$schema", "https://json-schema.org/draft/2020-12/schema"},
              {"$id", "https://fcgi-harness.example/scenario.schema.json"},
              {"title", "fcgi-harness scenario"},
              {"description",
               "A FastCGI scenario: client -> gateway -> backend, faults at protocol events, "
               "the acceptable outcomes with their grades. Written by `fcgi-harness schema`."},
              {"type", "object"},
              {"required", {"title", "description", "requests"}},
              {"properties", properties},
              {"additionalProperties", false},
              {"$defs", defs}};
}

}  // namespace fh::scenario
