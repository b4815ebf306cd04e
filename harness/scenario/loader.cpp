#include "scenario/loader.hpp"

#include "fake-backends/fake_backend.hpp"
#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"
#include "language/event_names.hpp"
#include "language/yaml_reader.hpp"
#include "peers/backends.hpp"
#include "peers/gateways.hpp"
#include "peers/generic.hpp"
#include "peers/process.hpp"
#include "scenario/sections.hpp"
#include "scenario/vocabulary.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace fh::scenario {
namespace {

std::string status_what() {
  return "an HTTP status " + std::to_string(kStatusMin) + ".." + std::to_string(kStatusMax) +
         " (RFC 9110 §15)";
}

using namespace language;
using namespace language::yaml;

// ------------------------------------------------------------------ sections

MsRange read_range(const YAML::Node& node, const std::string& file, const std::string& what) {
  MapReader r(node, file, what);
  MsRange range;
  if (r.has("min")) range.min = static_cast<double>(as_ms(r.get("min"), file, what + ".min"));
  if (r.has("max")) range.max = static_cast<double>(as_ms(r.get("max"), file, what + ".max"));
  r.finish();
  if (!range.min && !range.max) throw ScenarioError(r.mark(), what + ": give min, max or both");
  if (range.min && range.max && *range.min > *range.max)
    throw ScenarioError(r.mark(), what + ": min is above max");
  return range;
}

const std::vector<std::string> kOutcomes = {
    "complete", "truncated", "closed_before_response", "connect_failed", "protocol_error",
    "aborted",  "hung"};

Expectation read_expectation(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "expectation");
  Expectation e;
  e.mark = r.mark();
  const auto grade_text = as_string(r.require("grade"), file, "grade");
  auto grade = parse_verdict(grade_text);
  if (!grade || *grade == Verdict::error || *grade == Verdict::skip)
    bad_value(r.get("grade"), file, "grade", "one of PASS, NON-STRICT, INFORMATIONAL, FAIL");
  e.grade = *grade;
  if (r.has("because")) e.because = as_string(r.get("because"), file, "because");
  if (r.has("status")) {
    auto s = r.get("status");
    auto read_status = [&](const YAML::Node& n) {
      auto v = as_uint(n, file, "status");
      if (v < kStatusMin || v > kStatusMax) bad_value(n, file, "status", status_what());
      e.status.push_back(static_cast<int>(v));
    };
    if (s.IsSequence()) {
      for (const auto& item : s) read_status(item);
    } else {
      read_status(s);
    }
  }
  if (r.has("outcome")) e.outcome = one_of(r.get("outcome"), file, "outcome", kOutcomes);
  if (r.has("body")) {
    one_of(r.get("body"), file, "body", {"probe"});
    e.body_as_probe = true;
  }
  if (r.has("body_bytes")) e.body_bytes = as_size(r.get("body_bytes"), file, "body_bytes");
  if (r.has("body_sha256")) {
    auto sha = as_string(r.get("body_sha256"), file, "body_sha256");
    static const std::regex kSha256("[0-9a-f]{64}");  // compiled once
    if (!std::regex_match(sha, kSha256))
      bad_value(r.get("body_sha256"), file, "body_sha256", "64 lower-case hex digits");
    e.body_sha256 = sha;
  }
  if (r.has("body_contains"))
    e.body_contains = string_or_list(r.get("body_contains"), file, "body_contains");
  if (r.has("headers")) {
    MapReader h(r.get("headers"), file, "headers");
    for (auto it = r.get("headers").begin(); it != r.get("headers").end(); ++it) {
      auto name = as_string(it->first, file, "header name");
      e.headers.emplace_back(name, as_string(h.get(name), file, "header " + name));
    }
    h.finish();
  }
  if (r.has("first_byte_ms"))
    e.first_byte_ms = read_range(r.get("first_byte_ms"), file, "first_byte_ms");
  if (r.has("first_body_byte_ms"))
    e.first_body_byte_ms = read_range(r.get("first_body_byte_ms"), file, "first_body_byte_ms");
  if (r.has("last_byte_ms"))
    e.last_byte_ms = read_range(r.get("last_byte_ms"), file, "last_byte_ms");
  if (r.has("streamed_ms")) e.streamed_ms = read_range(r.get("streamed_ms"), file, "streamed_ms");
  r.finish();
  return e;
}

std::vector<Expectation> read_expectations(const YAML::Node& node, const std::string& file) {
  if (!node.IsSequence() || node.size() == 0)
    bad_value(node, file, "expect", "a non-empty list of expectations");
  std::vector<Expectation> out;
  for (const auto& item : node) out.push_back(read_expectation(item, file));
  return out;
}

Certification read_certification(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "certify");
  Certification c;
  const auto id = r.require("id");
  c.id = as_string(id, file, "certify.id");
  static const std::regex kId("(backend|gateway)/([a-z0-9.-]+)/([a-z0-9-]+)");
  std::smatch m;
  if (!std::regex_match(c.id, m, kId))
    bad_value(id, file, "certify.id",
              "party/section/slug, e.g. backend/3.3/padding-accepted (party: backend or "
              "gateway; section: the spec's, e.g. 5.1, rfc3875-4.1, seed-001)");
  c.party = m[1];
  c.section = m[2];
  const auto level = one_of(r.require("level"), file, "certify.level", {"MUST", "SHOULD", "FIELD"});
  c.level = level == "MUST"     ? Certification::Level::must
            : level == "SHOULD" ? Certification::Level::should
                                : Certification::Level::field;
  c.requirement = as_string(r.require("requirement"), file, "certify.requirement");
  if (r.has("bug")) c.bug = as_string(r.get("bug"), file, "certify.bug");
  if (c.level == Certification::Level::field && c.bug.empty())
    throw ScenarioError(r.mark(), "certify: a FIELD check names its bug (bug: ...)");
  r.finish();
  return c;
}

EventCheck read_check(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "check");
  EventCheck c;
  c.mark = r.mark();
  // First: it decides how the event names below are checked against the topology.
  if (r.has("if_observable"))
    c.if_observable = as_bool(r.get("if_observable"), file, "if_observable");
  const EventNameRules names{"", c.if_observable, false};
  c.that = read_event_name(r.require("that"), file, "that", names);
  if (r.has("detail_contains"))
    c.detail_contains = as_string(r.get("detail_contains"), file, "detail_contains");
  if (r.has("count")) {
    auto n = r.get("count");
    if (n.IsMap()) {
      MapReader cr(n, file, "count");
      if (cr.has("min")) c.count_min = as_uint(cr.get("min"), file, "count.min");
      if (cr.has("max")) c.count_max = as_uint(cr.get("max"), file, "count.max");
      cr.finish();
      if (!c.count_min && !c.count_max)
        throw ScenarioError(cr.mark(), "count: give min, max or both");
      if (c.count_min && c.count_max && *c.count_min > *c.count_max)
        throw ScenarioError(cr.mark(), "count: min is above max");
    } else {
      c.count_min = c.count_max = as_uint(n, file, "count");
    }
  }
  if (r.has("after") != r.has("within_ms"))
    throw ScenarioError(r.mark(), "check: 'after' and 'within_ms' go together");
  if (r.has("after")) {
    c.after = read_event_name(r.get("after"), file, "after", names);
    c.within_ms = as_ms(r.get("within_ms"), file, "within_ms");
  }
  if (r.has("if_after_happened")) {
    if (!c.after)
      throw ScenarioError(r.mark(), "check: 'if_after_happened' needs 'after' and 'within_ms'");
    c.if_after_happened = as_bool(r.get("if_after_happened"), file, "if_after_happened");
  }
  if (r.has("before")) c.before = read_event_name(r.get("before"), file, "before", names);
  if (r.has("value_equals"))
    c.value_equals = read_event_name(r.get("value_equals"), file, "value_equals", names);
  if (r.has("otherwise")) {
    auto grade = parse_verdict(as_string(r.get("otherwise"), file, "otherwise"));
    if (!grade || *grade == Verdict::pass || *grade == Verdict::error || *grade == Verdict::skip)
      bad_value(r.get("otherwise"), file, "otherwise", "one of FAIL, NON-STRICT, INFORMATIONAL");
    c.otherwise = *grade;
  }
  if (r.has("because")) c.because = as_string(r.get("because"), file, "because");
  r.finish();
  // A bare `that:` means "it happened at least once".
  if (!c.count_min && !c.count_max && !c.after && !c.before && !c.value_equals) c.count_min = 1;
  return c;
}

/// knobs: {name: value} for a real program; values are scalars kept as text.
std::map<std::string, std::string> read_knobs(const YAML::Node& node, const std::string& file) {
  MapReader k(node, file, "knobs");
  std::map<std::string, std::string> knobs;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const auto name = as_string(it->first, file, "knob name");
    knobs[name] = as_string(k.get(name), file, "knob " + name);
  }
  k.finish();
  return knobs;
}

void check_knob_names(const std::string& kind, const std::map<std::string, std::string>& knobs,
                      const std::vector<std::string>& valid, const SourceMark& mark) {
  for (const auto& [name, _] : knobs) {
    if (std::find(valid.begin(), valid.end(), name) != valid.end()) continue;
    std::string names;
    for (const auto& n : valid) names += (names.empty() ? "" : ", ") + n;
    throw ScenarioError(mark, "knobs: " + kind + " has no knob '" + name + "' (" +
                                  (names.empty() ? "it has none" : "knobs: " + names) + ")");
  }
}

/// Each knob's value as its adapter would take it, checked now, not when the program starts:
/// `problem(name, value)` says what is wrong, or "".
template <class Problem>
void check_knob_values(const YAML::Node& node, const std::string& file,
                       const std::map<std::string, std::string>& knobs, Problem problem) {
  for (const auto& [name, value] : knobs)
    if (auto what = problem(name, value); !what.empty())
      throw ScenarioError(mark_of(node[name], file), "knobs: " + what);
}

/// Keys of kind "command" (the generic adapters), kept as knobs. {scenario_dir} in the
/// command and a relative config path refer to the scenario file's folder.
void read_command_keys(MapReader& r, const std::string& file,
                       std::map<std::string, std::string>& knobs,
                       const peers::CommandPeerKeys& keys) {
  const auto dir = std::filesystem::absolute(std::filesystem::path(file)).parent_path().string();
  auto command = as_string(r.require("command"), file, "command");
  if (command.find_first_not_of(" \t") == std::string::npos)
    bad_value(r.get("command"), file, "command", "a command line (the program and its arguments)");
  for (auto at = command.find("{scenario_dir}"); at != std::string::npos;
       at = command.find("{scenario_dir}"))
    command.replace(at, 14, dir);
  knobs["command"] = command;
  if (r.has("config")) {
    std::filesystem::path config(as_string(r.get("config"), file, "config"));
    if (config.is_relative()) config = std::filesystem::path(dir) / config;
    if (!std::filesystem::is_regular_file(config))
      bad_value(r.get("config"), file, "config",
                "a config template file (relative to the scenario)");
    knobs["config"] = config.string();
  }
  // How readiness is judged (peers/generic.cpp): checked here, not when the program starts.
  if (r.has("ready")) knobs["ready"] = one_of(r.get("ready"), file, "ready", keys.ready_choices);
  if (r.has("user")) {
    knobs["user"] = as_string(r.get("user"), file, "user");
    if (!peers::find_user(knobs["user"]))
      bad_value(r.get("user"), file, "user", "an account of this machine (getent passwd)");
  }
  for (const auto& key : keys.keys)
    if (!knobs.count(key) && r.has(key)) knobs[key] = as_string(r.get(key), file, key);
}

std::string read_kind(MapReader& r, const std::string& file, const std::string& what,
                      const std::vector<std::string>& real_kinds) {
  if (!r.has("kind")) return std::string(kFakeKind);
  std::vector<std::string> kinds = {std::string(kFakeKind), "command"};
  kinds.insert(kinds.end(), real_kinds.begin(), real_kinds.end());
  return one_of(r.get("kind"), file, what, kinds);
}

/// A real program (or command) given a key of the embedded fake's: say so, rather than
/// "unknown key". `keys` are the fake's families' keys.
void reject_fake_keys(MapReader& r, const std::string& role, const std::string& kind,
                      const std::vector<std::string>& keys) {
  for (const auto& key : keys) {
    if (!r.peek(key).IsDefined()) continue;
    throw ScenarioError(r.key_mark(key),
                        role + ": '" + key + "' is a key of the embedded fake " + role +
                            " (kind: fake); " + role + " " + kind +
                            (kind == "command" ? " takes command, config and its readiness keys"
                                               : " is configured with knobs: (list --peers)"));
  }
}

/// kind: command has no adapter, so no knobs: its command line and config template say
/// everything (a --set that swaps a real program for a command meets a variant's knobs).
void reject_knobs_of_command(MapReader& r, const std::string& role, const std::string& placeholders,
                             const peers::CommandPeerKeys& command_keys) {
  if (!r.peek("knobs").IsDefined()) return;
  std::string keys;
  for (const auto& k : command_keys.keys) keys += (keys.empty() ? "" : ", ") + k;
  throw ScenarioError(r.key_mark("knobs"),
                      role + ": kind: command has no knobs: its command line (with " +
                          placeholders + ") and config template say everything; its keys are " +
                          keys);
}

std::vector<std::string> fake_gateway_keys() {
  std::vector<std::string> out;
  for (const auto* family : fake::gateway_families())
    for (const auto& key : family->keys) out.push_back(key.name);
  out.push_back("bug");
  return out;
}

std::vector<std::string> fake_backend_keys() {
  std::vector<std::string> out = {"faults"};
  for (const auto* family : fake::backend_families())
    for (const auto& key : family->keys) out.push_back(key.name);
  return out;
}

GatewayDef read_gateway(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "gateway");
  GatewayDef g;
  g.kind = read_kind(r, file, "gateway kind", peers::gateway_kinds());
  if (!g.is_fake()) reject_fake_keys(r, "gateway", g.kind, fake_gateway_keys());
  if (g.is_fake()) {
    fake::read_gateway_keys(r, g.fake);
  } else if (g.kind == "command") {
    reject_knobs_of_command(r, "gateway", "{http_port} and {backend_addr}",
                            peers::command_gateway_keys());
    read_command_keys(r, file, g.knobs, peers::command_gateway_keys());
  } else if (r.has("knobs")) {
    g.knobs = read_knobs(r.get("knobs"), file);
    std::vector<std::string> valid;
    for (const auto& [name, _] : peers::gateway_knobs(g.kind)) valid.push_back(name);
    check_knob_names(g.kind, g.knobs, valid, mark_of(r.get("knobs"), file));
    check_knob_values(r.get("knobs"), file, g.knobs, [&](const auto& name, const auto& value) {
      return peers::gateway_knob_problem(g.kind, name, value);
    });
  }
  if (!g.is_fake()) read_peer_faults(r, g.process_faults, g.syscall_faults);
  r.finish();
  return g;
}

BackendDef read_backend(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "backend");
  BackendDef b;
  auto real_kinds = peers::backend_kinds();
  real_kinds.emplace_back(kExternalKind);
  b.kind = read_kind(r, file, "backend kind", real_kinds);
  if (r.has("transport"))
    b.transport = one_of(r.get("transport"), file, "transport", {"tcp", "unix"}) == "tcp"
                      ? BackendDef::Transport::tcp
                      : BackendDef::Transport::unix_socket;
  if (!b.is_fake()) reject_fake_keys(r, "backend", b.kind, fake_backend_keys());
  if (b.kind == kExternalKind) {
    // A backend that is already running: only its address (certify backend --connect).
    const auto node = r.require("address");
    auto text = as_string(node, file, "address");
    if (text.rfind("tcp:", 0) == 0) text = text.substr(4);
    b.external_address = net::Address::parse(text);
    if (!b.external_address)
      bad_value(node, file, "address", "HOST:PORT, tcp:HOST:PORT or unix:PATH");
    r.finish();
    return b;
  }
  if (b.is_fake()) {
    fake::read_backend_keys(r, b.fake);
  } else if (b.kind == "command") {
    reject_knobs_of_command(r, "backend", "{addr}", peers::command_backend_keys());
    read_command_keys(r, file, b.knobs, peers::command_backend_keys());
  } else if (r.has("knobs")) {
    b.knobs = read_knobs(r.get("knobs"), file);
    check_knob_names(b.kind, b.knobs, peers::backend_knobs(b.kind), mark_of(r.get("knobs"), file));
    check_knob_values(r.get("knobs"), file, b.knobs, [&](const auto& name, const auto& value) {
      return peers::backend_knob_problem(b.kind, name, value);
    });
  }
  if (!b.is_fake()) read_peer_faults(r, b.process_faults, b.syscall_faults);
  r.finish();
  return b;
}

/// Request bodies are deterministic pseudo-random bytes (every byte value occurs), so a
/// gateway that mangles binary data is caught by the digest.
/// The largest generated request body: the client holds it in memory (a response may be
/// larger, the probe streams it).
constexpr std::uint64_t kMaxRequestBody = 256ull * 1024 * 1024;

std::string generated_body(std::uint64_t size) {
  std::string body(size, '\0');
  std::uint32_t x = 0x9E3779B9u;
  for (auto& c : body) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;  // xorshift32
    c = static_cast<char>(x & 0xFF);
  }
  return body;
}

LoadDef read_load(const YAML::Node& node, const std::string& file,
                  const client::RequestSpec& spec) {
  MapReader r(node, file, "load");
  LoadDef load;
  auto positive = [&](const YAML::Node& v, const char* key, std::uint64_t max) {
    const auto n = as_uint(v, file, std::string("load.") + key, max);
    if (n == 0) bad_value(v, file, std::string("load.") + key, "at least 1");
    return static_cast<std::uint32_t>(n);
  };
  load.count = positive(r.require("count"), "count", 10'000'000);
  if (r.has("concurrency")) load.concurrency = positive(r.get("concurrency"), "concurrency", 1024);
  if (r.has("per_connection"))
    load.per_connection = positive(r.get("per_connection"), "per_connection", 1'000'000);
  if (r.has("max_latency_ms"))
    load.max_latency_ms = as_ms(r.get("max_latency_ms"), file, "load.max_latency_ms");
  if (r.has("p99_latency_ms"))
    load.p99_latency_ms = as_ms(r.get("p99_latency_ms"), file, "load.p99_latency_ms");
  r.finish();
  if (!spec.client.connection.empty() || spec.client.pipeline)
    throw ScenarioError(r.mark(),
                        "load: its connections are its own (per_connection), not "
                        "client.connection or client.pipeline");
  return load;
}

RequestDef read_request(const YAML::Node& node, const std::string& file, std::size_t index) {
  MapReader r(node, file, "request");
  RequestDef req;
  req.mark = r.mark();
  req.name =
      r.has("name") ? as_string(r.get("name"), file, "name") : "r" + std::to_string(index + 1);
  if (r.has("method")) {
    req.spec.method = as_string(r.get("method"), file, "method");
    static const std::regex kMethod("[A-Z]+");
    if (!std::regex_match(req.spec.method, kMethod))
      bad_value(r.get("method"), file, "method", "an upper-case HTTP method");
  }
  std::string path = "/probe";
  if (r.has("path")) {
    path = as_string(r.get("path"), file, "path");
    if (path.empty() || path[0] != '/' || path.find_first_of("?# \r\n") != std::string::npos)
      bad_value(r.get("path"), file, "path", "an absolute path without query, e.g. /probe");
  }
  std::string query;
  if (r.has("probe")) {
    auto p = r.get("probe");
    MapReader pr(p, file, "probe");
    probe::ProbeQuery q;
    if (pr.has("status")) {
      auto v = as_uint(pr.get("status"), file, "probe.status");
      if (v < kStatusMin || v > kStatusMax)
        bad_value(pr.get("status"), file, "probe.status", status_what());
      q.status = static_cast<int>(v);
    }
    if (pr.has("size")) q.size = as_size(pr.get("size"), file, "probe.size");
    if (pr.has("chunk")) {
      q.chunk = as_size(pr.get("chunk"), file, "probe.chunk");
      if (q.chunk == 0) bad_value(pr.get("chunk"), file, "probe.chunk", "at least 1 byte");
    }
    if (pr.has("delay_ms")) q.delay_ms = as_ms(pr.get("delay_ms"), file, "probe.delay_ms");
    if (pr.has("first_byte_ms"))
      q.first_byte_ms = as_ms(pr.get("first_byte_ms"), file, "probe.first_byte_ms");
    if (pr.has("echo")) q.echo = as_bool(pr.get("echo"), file, "probe.echo");
    if (pr.has("stderr")) q.stderr_bytes = as_size(pr.get("stderr"), file, "probe.stderr");
    pr.finish();
    if (q.echo && q.size)
      throw ScenarioError(mark_of(p, file),
                          "probe: size and echo exclude each other (size does not read the body)");
    req.probe = q;
    query = probe::to_query_string(q);
  } else {
    req.probe = probe::ProbeQuery{};
  }
  if (r.has("query")) {
    auto extra = as_string(r.get("query"), file, "query");
    if (extra.find_first_of("# \r\n") != std::string::npos)
      bad_value(r.get("query"), file, "query", "a query string without spaces or '#'");
    query += (query.empty() || extra.empty() ? "" : "&") + extra;
    // The probe query the backend will see is the whole string.
    auto parsed = probe::parse_query(query);
    if (auto* err = std::get_if<std::string>(&parsed))
      throw ScenarioError(mark_of(r.get("query"), file), *err);
    req.probe = std::get<probe::ProbeQuery>(parsed);
  }
  req.spec.target = query.empty() ? path : path + "?" + query;
  if (r.has("headers")) {
    auto h = r.get("headers");
    MapReader hr(h, file, "headers");
    for (auto it = h.begin(); it != h.end(); ++it) {
      auto name = as_string(it->first, file, "header name");
      static const std::regex kToken("[A-Za-z0-9!#$%&'*+.^_`|~-]+");  // RFC 9110 token
      if (!std::regex_match(name, kToken))
        bad_value(it->first, file, "header name", "an HTTP token");
      req.spec.headers.emplace_back(name, as_string(hr.get(name), file, "header " + name));
    }
    hr.finish();
  }
  if (r.has("body")) {
    auto b = r.get("body");
    MapReader br(b, file, "body");
    if (br.has("size") == br.has("text"))
      throw ScenarioError(br.mark(), "body: give exactly one of size or text");
    if (br.has("size")) {
      const auto size = as_size(br.get("size"), file, "body.size");
      if (size > kMaxRequestBody)
        throw ScenarioError(mark_of(br.get("size"), file),
                            "body.size: " + br.get("size").Scalar() +
                                " is above the maximum 256MiB (the client holds the body in "
                                "memory)");
      req.spec.body = generated_body(size);
    } else {
      req.spec.body = as_string(br.get("text"), file, "body.text");
    }
    br.finish();
  }
  read_client_behaviour(r, req.spec);
  if (r.has("expect")) req.expect = read_expectations(r.get("expect"), file);
  if (r.has("load")) req.load = read_load(r.get("load"), file, req.spec);
  r.finish();
  return req;
}

/// Variant overrides are merged into the scenario mapping: mappings merge key by key, any
/// other value (lists included) replaces. Nodes keep their own marks, so errors in a variant
/// point at the variant's lines.
void deep_merge(YAML::Node target, const YAML::Node& overrides) {
  for (auto it = overrides.begin(); it != overrides.end(); ++it) {
    const auto key = it->first.Scalar();
    YAML::Node existing = target[key];
    if (existing.IsMap() && it->second.IsMap()) {
      deep_merge(existing, it->second);
    } else {
      target[key] = it->second;
    }
  }
}

Scenario read_scenario(YAML::Node root, const std::string& file) {
  MapReader r(root, file, "scenario");
  Scenario s;
  s.file = file;
  s.id = std::filesystem::path(file).stem().string();
  if (r.has("id")) {
    s.id = as_string(r.get("id"), file, "id");
    static const std::regex kId("[A-Za-z0-9._/-]+");
    if (!std::regex_match(s.id, kId))
      bad_value(r.get("id"), file, "id", "letters, digits, '.', '_', '/' or '-'");
  }
  s.title = as_string(r.require("title"), file, "title");
  s.description = as_string(r.require("description"), file, "description");
  if (r.has("tags")) s.tags = string_or_list(r.get("tags"), file, "tags");
  if (r.has("deadline_ms")) {
    s.deadline_ms = as_ms(r.get("deadline_ms"), file, "deadline_ms");
    if (s.deadline_ms == 0)
      bad_value(r.get("deadline_ms"), file, "deadline_ms", "a positive number of ms");
  }
  if (r.has("skip")) s.skip = as_string(r.get("skip"), file, "skip");
  if (r.has("emulates")) {
    // A variant whose fake emulates a known bug: detection means FAIL.
    s.emulates = as_string(r.get("emulates"), file, "emulates");
    s.expected_verdict = Verdict::fail;
  }
  if (r.has("parallel")) s.parallel = as_bool(r.get("parallel"), file, "parallel");
  if (r.has("certify")) s.certify = read_certification(r.get("certify"), file);
  r.get("variants");  // handled by the caller
  if (r.has("topology")) {
    MapReader t(r.get("topology"), file, "topology");
    if (t.has("client")) one_of(t.get("client"), file, "client", {"harness"});
    if (t.has("gateway")) s.gateway = read_gateway(t.get("gateway"), file);
    if (t.has("backend")) s.backend = read_backend(t.get("backend"), file);
    t.finish();
  }
  if (r.has("observe")) {
    MapReader o(r.get("observe"), file, "observe");
    if (o.has("wire")) s.observe.wire = as_bool(o.get("wire"), file, "observe.wire");
    if (o.has("syscalls")) {
      const auto node = o.get("syscalls");
      for (const auto& party : string_or_list(node, file, "observe.syscalls")) {
        if (party != "gateway" && party != "backend")
          bad_value(node, file, "observe.syscalls", "gateway, backend or a list of both");
        (party == "gateway" ? s.observe.gateway_syscalls : s.observe.backend_syscalls) = true;
      }
    }
    o.finish();
  }
  std::vector<Expectation> shared;
  if (r.has("expect")) shared = read_expectations(r.get("expect"), file);
  auto requests = r.require("requests");
  if (!requests.IsSequence() || requests.size() == 0)
    bad_value(requests, file, "requests", "a non-empty list of requests");
  for (std::size_t i = 0; i < requests.size(); ++i) {
    auto req = read_request(requests[i], file, i);
    if (req.expect.empty()) req.expect = shared;
    if (req.expect.empty())
      throw ScenarioError(req.mark, "request '" + req.name +
                                        "' has no expectations (give expect: here or at the top)");
    for (const auto& other : s.requests)
      if (other.name == req.name)
        throw ScenarioError(req.mark, "two requests are named '" + req.name + "'");
    s.requests.push_back(std::move(req));
  }
  if (r.has("checks")) {
    auto checks = r.get("checks");
    if (!checks.IsSequence() || checks.size() == 0)
      bad_value(checks, file, "checks", "a non-empty list of checks");
    for (const auto& c : checks) s.checks.push_back(read_check(c, file));
  }
  r.finish();
  return s;
}

/// The overrides of the command line, each with the name its errors carry.
struct Override {
  std::string name;  // "--set #1", "--matrix srb0"
  std::string text;
  std::string matrix_entry = {};  // "srb0": the variant name part a matrix entry adds
};

std::vector<Override> overrides_of(const LoadOptions& options) {
  std::vector<Override> out;
  for (std::size_t i = 0; i < options.set.size(); ++i)
    out.push_back({"--set #" + std::to_string(i + 1), options.set[i]});
  for (const auto& [name, yaml] : options.matrix) out.push_back({"--matrix " + name, yaml, name});
  return out;
}

/// An override parsed anew for every merge (a merged node is shared with the tree it went
/// into, so one parse must not serve two scenarios). Its lines are moved past
/// kOverrideLineBase * (k + 1), so marks tell which text a node came from (load_context.hpp).
YAML::Node parse_override(const Override& o, std::size_t k) {
  const std::string shifted(static_cast<std::size_t>(kOverrideLineBase) * (k + 1), '\n');
  YAML::Node node;
  try {
    node = YAML::Load(shifted + o.text);
  } catch (const YAML::ParserException& e) {
    throw ScenarioError(
        SourceMark{o.name, e.mark.line + 1 - kOverrideLineBase * static_cast<int>(k + 1),
                   e.mark.column + 1},
        "YAML syntax: " + e.msg);
  }
  if (!node.IsMap())
    throw ScenarioError(
        SourceMark{o.name, 0, 0},
        "expected a YAML mapping merged into every scenario, got " + kind_name(node));
  if (node["variants"] || node["id"])
    throw ScenarioError(SourceMark{o.name, 0, 0}, "may not set 'variants' or 'id'");
  return node;
}

/// The events the scenario names, checked once it is all read: each must be declared, and
/// the topology must be able to produce it (a check with if_observable may judge nothing).
void check_event_names(const std::vector<EventRef>& refs, Scenario& s) {
  for (const auto& ref : refs) {
    const auto* decl = find_event(ref.selector);
    // A family's name with a part it does not have (client.response_hed): unknown too, and
    // the suggestion may be a plain event (client.response_head).
    if (decl && !family_member_problem(*decl, ref.selector).empty()) decl = nullptr;
    if (!decl) {
      const auto hint = suggest_event(ref.selector);
      throw ScenarioError(ref.mark, ref.where + ": no event '" + ref.selector.to_string() +
                                        "' is declared" + (hint.empty() ? "" : " (" + hint + ")") +
                                        "; `fcgi-harness list --events` lists them");
    }
    const auto why = unobservable_because(*decl, s);
    if (why.empty()) continue;
    if (ref.if_observable) continue;  // load_variant notes it on the check
    throw ScenarioError(ref.mark,
                        ref.where + ": " + ref.selector.to_string() +
                            (ref.trigger ? " can never happen here, so this never acts: "
                                         : " can never be seen here, so this check judges "
                                           "nothing: ") +
                            why + (ref.trigger ? "" : " (or say if_observable: true)"));
  }
}

/// The check whose mapping holds `mark` (checks are read in file order).
EventCheck* check_at(Scenario& s, const SourceMark& mark) {
  EventCheck* found = nullptr;
  for (auto& c : s.checks) {
    const bool before =
        c.mark.file == mark.file &&
        (c.mark.line < mark.line || (c.mark.line == mark.line && c.mark.column <= mark.column));
    if (before && (!found || c.mark.line > found->mark.line ||
                   (c.mark.line == found->mark.line && c.mark.column > found->mark.column)))
      found = &c;
  }
  return found;
}

struct VariantEntry {
  std::string name;  // empty: the scenario has no variants
  std::string about;
};

/// One variant (times one matrix entry) of a parsed file, read and checked.
Scenario load_variant(const std::function<YAML::Node()>& parse, const std::string& file,
                      VariantEntry v, const std::vector<Override>& sets,
                      const std::optional<std::pair<Override, std::size_t>>& matrix) {
  LoadContext context;
  context.file = file;
  std::vector<Override> all = sets;
  if (matrix) all.push_back(matrix->first);
  for (const auto& o : all) context.overrides.push_back(o.name);
  LoadScope scope(context);
  // A fresh tree per run: merging must not leak into the next variant.
  YAML::Node tree = parse();
  if (!v.name.empty()) {
    YAML::Node variant = tree["variants"][v.name];
    if (!variant.IsNull()) {
      MapReader r(variant, file, "variant '" + v.name + "'");
      if (r.has("about")) v.about = as_string(r.get("about"), file, "about");
      if (r.has("set")) {
        if (!r.get("set").IsMap())
          bad_value(r.get("set"), file, "set", "a mapping merged into the scenario");
        if (r.get("set")["variants"] || r.get("set")["id"])
          throw ScenarioError(mark_of(r.get("set"), file),
                              "a variant may not set 'variants' or 'id'");
        deep_merge(tree, r.get("set"));
      }
      r.finish();
    }
  }
  tree.remove("variants");
  for (std::size_t k = 0; k < all.size(); ++k) deep_merge(tree, parse_override(all[k], k));
  Scenario s = read_scenario(tree, file);
  s.variant = v.name;
  if (matrix) s.variant += (s.variant.empty() ? "" : "+") + matrix->first.matrix_entry;
  if (!v.about.empty()) s.description += "\nVariant " + v.name + ": " + v.about;
  check_event_names(context.events, s);
  for (const auto& ref : context.events) {
    if (!ref.if_observable) continue;
    const auto* decl = find_event(ref.selector);
    const auto why = decl ? unobservable_because(*decl, s) : std::string();
    if (why.empty()) continue;
    if (auto* check = check_at(s, ref.mark); check && check->unobservable.empty())
      check->unobservable = ref.selector.to_string() + ": " + why;
  }
  return s;
}

std::vector<VariantEntry> variants_of(const YAML::Node& root, const std::string& file) {
  if (!root.IsMap())
    throw ScenarioError(mark_of(root, file),
                        "a scenario file must be a mapping, got " + kind_name(root));
  std::vector<VariantEntry> variants;
  YAML::Node declared = root["variants"];
  if (!declared.IsDefined() || declared.IsNull()) {
    variants.push_back({});
    return variants;
  }
  if (!declared.IsMap() || declared.size() == 0)
    bad_value(declared, file, "variants", "a mapping of variant name to {about, set}");
  for (auto it = declared.begin(); it != declared.end(); ++it) {
    const auto name = as_string(it->first, file, "variant name");
    static const std::regex kName("[A-Za-z0-9_-]+");
    if (!std::regex_match(name, kName))
      bad_value(it->first, file, "variant name", "letters, digits, '_' or '-'");
    variants.push_back({name, {}});
  }
  return variants;
}

/// The scenario's id as far as it can be told without reading it all (for errors).
std::string id_of(const YAML::Node& root, const std::string& file) {
  if (root.IsMap())
    if (auto id = root["id"]; id && id.IsScalar()) return id.Scalar();
  return std::filesystem::path(file).stem().string();
}

ScenarioError with_parse_position(const YAML::Exception& e, const std::string& file) {
  if (dynamic_cast<const YAML::ParserException*>(&e))
    return ScenarioError(SourceMark{file, e.mark.line + 1, e.mark.column + 1},
                         "YAML syntax: " + e.msg);
  if (const auto* context = LoadContext::current(); context && !e.mark.is_null())
    return ScenarioError(context->mark(e.mark.line, e.mark.column), e.msg);
  return ScenarioError(SourceMark{file, e.mark.is_null() ? 0 : e.mark.line + 1,
                                  e.mark.is_null() ? 0 : e.mark.column + 1},
                       e.msg);
}

LoadResult load_all(const std::function<YAML::Node()>& parse, const std::string& file,
                    const LoadOptions& options) {
  LoadResult result;
  YAML::Node root;
  std::vector<VariantEntry> variants;
  try {
    root = parse();
    variants = variants_of(root, file);
  } catch (const ScenarioError& e) {
    result.errors.push_back({id_of(root, file), "", true, e});
    return result;
  } catch (const YAML::Exception& e) {
    result.errors.push_back({id_of(root, file), "", true, with_parse_position(e, file)});
    return result;
  }
  const auto all = overrides_of(options);
  const std::vector<Override> sets(all.begin(),
                                   all.begin() + static_cast<std::ptrdiff_t>(options.set.size()));
  std::vector<std::optional<std::pair<Override, std::size_t>>> matrix;
  for (std::size_t k = options.set.size(); k < all.size(); ++k)
    matrix.emplace_back(std::pair{all[k], k});
  if (matrix.empty()) matrix.emplace_back();
  const auto id = id_of(root, file);
  for (const auto& v : variants) {
    for (const auto& m : matrix) {
      std::string name = v.name;
      if (m) name += (name.empty() ? "" : "+") + m->first.matrix_entry;
      try {
        result.scenarios.push_back(load_variant(parse, file, v, sets, m));
      } catch (const ScenarioError& e) {
        result.errors.push_back({id, name, false, e});
      } catch (const YAML::Exception& e) {
        result.errors.push_back({id, name, false, with_parse_position(e, file)});
      }
    }
  }
  return result;
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw ScenarioError(SourceMark{file.string(), 0, 0}, "cannot read the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<Scenario> first_error_or_all(LoadResult result) {
  if (!result.errors.empty()) throw result.errors.front().error;
  return std::move(result.scenarios);
}

}  // namespace

std::vector<ScenarioError> check_overrides(const LoadOptions& options) {
  std::vector<ScenarioError> errors;
  const auto all = overrides_of(options);
  for (std::size_t k = 0; k < all.size(); ++k) {
    try {
      parse_override(all[k], k);
    } catch (const ScenarioError& e) {
      errors.push_back(e);
    }
  }
  return errors;
}

LoadResult load_file_variants(const std::filesystem::path& file, const LoadOptions& options) {
  const auto name = file.string();
  std::string text;
  try {
    text = read_text(file);
  } catch (const ScenarioError& e) {
    return LoadResult{{}, {{std::filesystem::path(file).stem().string(), "", true, e}}};
  }
  return load_all([&] { return YAML::Load(text); }, name, options);
}

std::vector<Scenario> load_file(const std::filesystem::path& file, const LoadOptions& options) {
  return first_error_or_all(load_file_variants(file, options));
}

std::vector<Scenario> load_text(const std::string& yaml, const std::string& file_name,
                                const LoadOptions& options) {
  return first_error_or_all(load_all([&] { return YAML::Load(yaml); }, file_name, options));
}

}  // namespace fh::scenario
