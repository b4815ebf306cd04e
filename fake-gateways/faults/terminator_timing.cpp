// Family "terminator timing": the empty STDIN that ends the request body (FastCGI 1.0 §3.3,
// §5.3) normal, doubled, missing, or late: at a trigger (any party's event, since the request
// head arrived) and/or delay_ms after it, bounded by backend_timeout_ms.
#include "fake-gateways/faults/terminator_timing.hpp"

#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"
#include "fake-gateways/gateway_events.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

TriggerRules rules() {
  return gateway_trigger_rules("stdin_terminator", false, "right after the body");
}

void read_keys(MapReader& r, GatewayConfig& config) {
  if (!r.has("stdin_terminator")) return;
  const auto node = r.get("stdin_terminator");
  auto& plan = config.stdin_terminator;
  if (node.IsScalar()) {
    const auto how = one_of(node, r.file(), "stdin_terminator", {"normal", "missing", "doubled"});
    plan.count = how == "missing" ? 0 : how == "doubled" ? 2 : 1;
    return;
  }
  MapReader t(node, r.file(), "stdin_terminator");
  if (t.has("count"))
    plan.count = static_cast<std::uint32_t>(as_uint(t.get("count"), r.file(), "count", 8));
  plan.at = read_trigger(t, rules());
  t.finish();
}

}  // namespace

const GatewayFamily& terminator_timing_family() {
  static const std::vector<Key> keys = [] {
    std::vector<Key> k = trigger_keys(rules());
    k.insert(k.begin(), {"count", shapes::integer(0, 8), "how many empty STDIN records"});
    return k;
  }();
  static const GatewayFamily family{
      "terminator_timing",
      "The empty STDIN (stdin terminator)",
      "`stdin_terminator: normal | doubled | missing`, or `{count: N, at: EVENT, nth: K, "
      "delay_ms: D}`: late, at the event (any party's, since the request head arrived) and/or "
      "D ms after it, bounded by backend_timeout_ms (then it is withheld).",
      {{"stdin_terminator",
        shapes::either({shapes::choice({"normal", "doubled", "missing"}), shapes::mapping(keys)}),
        "normal, doubled, missing, or late"}},
      {&gateway_events::stdin_terminator_sent, &gateway_events::stdin_terminator_withheld},
      &read_keys};
  return family;
}

}  // namespace fh::fake
