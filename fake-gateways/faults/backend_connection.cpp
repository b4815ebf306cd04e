// Family "backend connection": timeouts and FCGI_KEEP_CONN (§5.1) of the gateway's
// connections to the backend.
#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"
#include "fake-gateways/gateway_events.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

void read_keys(MapReader& r, GatewayConfig& config) {
  const auto& file = r.file();
  if (r.has("backend_timeout_ms"))
    config.backend_timeout_ms = as_ms(r.get("backend_timeout_ms"), file, "backend_timeout_ms");
  if (r.has("connect_timeout_ms"))
    config.backend_connect_timeout_ms =
        as_ms(r.get("connect_timeout_ms"), file, "connect_timeout_ms");
  if (r.has("keep_conn")) config.keep_conn = as_bool(r.get("keep_conn"), file, "keep_conn");
}

}  // namespace

const GatewayFamily& backend_connection_family() {
  static const GatewayFamily family{
      "backend_connection",
      "Backend connection: timeouts and keep-conn",
      "`backend_timeout_ms` (default 5000): silence from the backend before the gateway answers "
      "504 (or cuts a started response); time spent on a slow client or the gateway's own "
      "pauses does not count. `connect_timeout_ms` (default 2000): connecting the backend, "
      "else 502. `keep_conn: true` sets FCGI_KEEP_CONN and reuses backend connections (a pool "
      "of 4 idle ones; one the backend closed while idle is dropped).",
      {{"backend_timeout_ms", shapes::ms(), "backend silence before 504"},
       {"connect_timeout_ms", shapes::ms(), "connecting the backend before 502"},
       {"keep_conn", shapes::boolean(), "FCGI_KEEP_CONN and a pool of kept connections"}},
      {&gateway_events::backend_connection_reused, &gateway_events::backend_connection_idle,
       &gateway_events::backend_connection_dropped},
      &read_keys};
  return family;
}

}  // namespace fh::fake
