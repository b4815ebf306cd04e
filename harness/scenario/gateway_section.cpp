// topology.gateway keys of a fake gateway. The vocabulary is documented in
// docs/faults-gateway.md; README "Scenario files" has the frame.
#include "scenario/sections.hpp"

namespace fh::scenario {
namespace {

using namespace yaml;

// "party.event" or "event" (any party): a barrier on the run's event bus.
events::Selector read_anchor(const YAML::Node& node, const std::string& file,
                             const std::string& what) {
  return as_event(node, file, what, /*any_party=*/true);
}

std::size_t as_positive_size(const YAML::Node& node, const std::string& file,
                             const std::string& what, std::uint64_t max) {
  const auto v = as_size(node, file, what);
  if (v == 0 || v > max) bad_value(node, file, what, "a size from 1 to " + std::to_string(max));
  return static_cast<std::size_t>(v);
}

void read_stdin_terminator(const YAML::Node& node, const std::string& file,
                           fake::StdinTerminatorPlan& plan) {
  if (node.IsScalar()) {
    const auto how = one_of(node, file, "stdin_terminator", {"normal", "missing", "doubled"});
    plan.count = how == "missing" ? 0 : how == "doubled" ? 2 : 1;
    return;
  }
  MapReader r(node, file, "stdin_terminator");
  if (r.has("count"))
    plan.count = static_cast<std::uint32_t>(as_uint(r.get("count"), file, "count", 8));
  if (r.has("delay_ms")) plan.delay_ms = as_ms(r.get("delay_ms"), file, "delay_ms");
  if (r.has("after")) plan.after = read_anchor(r.get("after"), file, "after");
  r.finish();
}

fake::AbortPlan read_abort(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "abort");
  fake::AbortPlan plan;
  auto after = r.require("after");
  if (after.IsMap()) {
    MapReader a(after, file, "abort 'after'");
    plan.after_body_bytes = as_size(a.require("body_bytes"), file, "body_bytes");
    a.finish();
  } else {
    plan.after_event = read_anchor(after, file, "after");
  }
  if (r.has("how")) {
    const auto how = one_of(r.get("how"), file, "how", {"abort_request", "close", "reset"});
    plan.how = how == "close"   ? fake::AbortPlan::How::close
               : how == "reset" ? fake::AbortPlan::How::reset
                                : fake::AbortPlan::How::abort_request;
  }
  if (r.has("delay_ms")) plan.delay_ms = as_ms(r.get("delay_ms"), file, "delay_ms");
  r.finish();
  return plan;
}

fake::GatewayProbe read_probe(const YAML::Node& node, const std::string& file) {
  fake::GatewayProbe probe;
  if (node.IsScalar()) {
    one_of(node, file, "probe", {"get_values"});
    return probe;
  }
  MapReader r(node, file, "probe");
  int kinds = 0;
  if (r.has("unknown_type")) {
    probe.kind = fake::GatewayProbe::Kind::unknown_type;
    probe.value =
        static_cast<std::uint32_t>(as_uint(r.get("unknown_type"), file, "unknown_type", 255));
    if (probe.value <= 11)  // FastCGI 1.0 §8 defines types 1..11
      bad_value(r.get("unknown_type"), file, "unknown_type", "a record type above 11");
    ++kinds;
  }
  if (r.has("role")) {
    probe.kind = fake::GatewayProbe::Kind::role;
    const auto role = r.get("role");
    if (role.IsScalar() && role.Scalar() == "authorizer") {
      probe.value = 2;
    } else if (role.IsScalar() && role.Scalar() == "filter") {
      probe.value = 3;
    } else if (role.IsScalar() && role.Scalar() == "responder") {
      probe.value = 1;
    } else {
      probe.value = static_cast<std::uint32_t>(as_uint(role, file, "role", 65535));
    }
    ++kinds;
  }
  if (r.has("multiplex")) {
    probe.kind = fake::GatewayProbe::Kind::multiplex;
    probe.value = static_cast<std::uint32_t>(as_uint(r.get("multiplex"), file, "multiplex", 64));
    if (probe.value < 2) bad_value(r.get("multiplex"), file, "multiplex", "2 to 64 requests");
    ++kinds;
  }
  if (kinds != 1)
    throw ScenarioError(r.mark(),
                        "probe: exactly one of get_values, {unknown_type: N}, "
                        "{role: authorizer|filter|N}, {multiplex: N}");
  r.finish();
  return probe;
}

}  // namespace

void read_fake_gateway(MapReader& r, fake::GatewayConfig& config) {
  const auto& file = r.file();
  if (r.has("personality")) {
    const auto name = one_of(r.get("personality"), file, "personality",
                             {"plain", "nginx", "apache", "lighttpd", "haproxy", "caddy"});
    config.personality = *fake::parse_personality(name);
    fake::apply_personality_defaults(config);  // explicit keys below still win
  }
  if (r.has("backend_timeout_ms"))
    config.backend_timeout_ms = as_ms(r.get("backend_timeout_ms"), file, "backend_timeout_ms");
  if (r.has("connect_timeout_ms"))
    config.backend_connect_timeout_ms =
        as_ms(r.get("connect_timeout_ms"), file, "connect_timeout_ms");
  if (r.has("keep_conn")) config.keep_conn = as_bool(r.get("keep_conn"), file, "keep_conn");
  if (r.has("stdin_terminator"))
    read_stdin_terminator(r.get("stdin_terminator"), file, config.stdin_terminator);
  if (r.has("body_pace")) {
    MapReader p(r.get("body_pace"), file, "body_pace");
    fake::BodyPace pace;
    pace.bytes = as_positive_size(p.require("bytes"), file, "bytes", UINT32_MAX);
    pace.every_ms = as_ms(p.require("every_ms"), file, "every_ms");
    p.finish();
    config.body_pace = pace;
  }
  if (r.has("stdin_record_size"))
    config.stdin_record_size =
        as_positive_size(r.get("stdin_record_size"), file, "stdin_record_size", 65535);
  if (r.has("stdin_segments")) {
    auto segments = r.get("stdin_segments");
    if (!segments.IsSequence() || segments.size() == 0)
      bad_value(segments, file, "stdin_segments", "a list of byte counts");
    for (const auto& s : segments)
      config.stdin_segments.push_back(as_positive_size(s, file, "stdin_segments", 1 << 20));
  }
  if (r.has("abort")) config.abort = read_abort(r.get("abort"), file);
  if (r.has("backend_read")) {
    MapReader b(r.get("backend_read"), file, "backend_read");
    if (b.has("pause_ms"))
      config.backend_read.pause_ms = as_ms(b.get("pause_ms"), file, "pause_ms");
    if (b.has("bytes_per_read"))
      config.backend_read.bytes_per_read =
          as_positive_size(b.get("bytes_per_read"), file, "bytes_per_read", 65536);
    if (b.has("every_ms"))
      config.backend_read.every_ms = as_ms(b.get("every_ms"), file, "every_ms");
    b.finish();
  }
  if (r.has("probes")) {
    auto probes = r.get("probes");
    if (!probes.IsSequence()) bad_value(probes, file, "probes", "a list of probes");
    for (const auto& p : probes) config.probes.push_back(read_probe(p, file));
  }
  if (r.has("stream_response_body")) {
    const auto mode =
        one_of(r.get("stream_response_body"), file, "stream_response_body", {"0", "1", "2"});
    config.stream_response_body = static_cast<std::uint32_t>(mode[0] - '0');
  }
  if (r.has("wait_for_backend_close"))
    config.wait_for_backend_close =
        as_bool(r.get("wait_for_backend_close"), file, "wait_for_backend_close");
  if (r.has("bug")) {
    for (const auto& bug : string_or_list(r.get("bug"), file, "bug")) {
      if (bug == "lighttpd_2796") {
        config.bugs.lighttpd_2796 = true;
      } else if (bug == "fail_on_stdin_write_error") {
        config.bugs.fail_on_stdin_write_error = true;
      } else if (bug == "nginx_empty_200") {
        config.bugs.nginx_empty_200 = true;
      } else {
        bad_value(r.get("bug"), file, "bug",
                  "lighttpd_2796, fail_on_stdin_write_error or nginx_empty_200 (or a list)");
      }
    }
    if (config.bugs.lighttpd_2796 && config.stream_response_body != 2u)
      throw ScenarioError(mark_of(r.get("bug"), file),
                          "bug lighttpd_2796 needs stream_response_body: 2");
  }
}

}  // namespace fh::scenario
