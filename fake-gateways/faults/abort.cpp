// Family "abort": the gateway ends the backend request early: FCGI_ABORT_REQUEST (§5.4, the
// gateway keeps relaying the answer) or closing the connection without it (FIN or RST).
// Nothing of the request is written after the trigger.
#include "fake-gateways/faults/abort.hpp"

#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"
#include "fake-gateways/gateway_events.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

TriggerRules rules() {
  auto r = gateway_trigger_rules("gateway abort", /*stdin_bytes=*/true, "");
  r.request = true;  // request: N, the gateway's Nth client request (arrival order)
  return r;
}

void read_keys(MapReader& r, GatewayConfig& config) {
  if (!r.has("abort")) return;
  const auto& file = r.file();
  MapReader a(r.get("abort"), file, "abort");
  a.retired("how", "write 'do:' (abort_request, close or reset), as every fault says its verb");
  if (const auto at = a.peek("at"); at.IsMap() && at["body_bytes"])
    throw ScenarioError(mark_of(at, file),
                        "abort at: the body bytes sent to the backend are STDIN: write "
                        "{stdin_bytes: N}");
  AbortPlan plan;
  plan.at = read_trigger(a, rules());
  if (a.has("do")) {
    const auto how = one_of(a.get("do"), file, "do", {"abort_request", "close", "reset"});
    plan.how = how == "close"   ? AbortPlan::How::close
               : how == "reset" ? AbortPlan::How::reset
                                : AbortPlan::How::abort_request;
  }
  a.finish();
  config.abort = plan;
}

}  // namespace

const GatewayFamily& abort_family() {
  static const std::vector<Key> keys = [] {
    std::vector<Key> k = trigger_keys(rules());
    k.push_back({"do", shapes::choice({"abort_request", "close", "reset"}),
                 "ABORT_REQUEST (default), or drop the connection (FIN / RST)"});
    return k;
  }();
  static const GatewayFamily family{
      "abort",
      "Abort",
      "`abort: {at: EVENT | {stdin_bytes: N}, do: abort_request | close | reset, delay_ms: D, "
      "request: N}`: "
      "`abort_request` sends FCGI_ABORT_REQUEST (§5.4) and keeps relaying; `close`/`reset` drop "
      "the backend connection (FIN / RST). Nothing of the request is written after the "
      "trigger. `request: N` aborts only the gateway's Nth client request (default: each).",
      {{"abort", shapes::mapping(keys, {"at"}), "end the backend request early"}},
      {&gateway_events::abort_request_sent, &gateway_events::backend_closed_by_gateway},
      &read_keys};
  return family;
}

}  // namespace fh::fake
