// topology.gateway keys of a fake gateway. See README "Scenario files" for the language.
#include "scenario/sections.hpp"

namespace fh::scenario {

using namespace yaml;

void read_fake_gateway(MapReader& r, fake::GatewayConfig& config) {
  const auto& file = r.file();
  if (r.has("backend_timeout_ms"))
    config.backend_timeout_ms = as_ms(r.get("backend_timeout_ms"), file, "backend_timeout_ms");
  if (r.has("connect_timeout_ms"))
    config.backend_connect_timeout_ms =
        as_ms(r.get("connect_timeout_ms"), file, "connect_timeout_ms");
  if (r.has("keep_conn")) config.keep_conn = as_bool(r.get("keep_conn"), file, "keep_conn");
}

}  // namespace fh::scenario
