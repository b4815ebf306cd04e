// Family "backpressure": the gateway reads its backend late and slowly, so a backend's writes
// block (not counted as backend silence).
#include "fake-gateways/faults/backpressure.hpp"

#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"
#include "fake-gateways/gateway_events.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

void read_keys(MapReader& r, GatewayConfig& config) {
  if (!r.has("backend_read")) return;
  const auto& file = r.file();
  MapReader b(r.get("backend_read"), file, "backend_read");
  auto& plan = config.backend_read;
  if (b.has("pause_ms")) plan.pause_ms = as_ms(b.get("pause_ms"), file, "pause_ms");
  if (b.has("bytes_per_read")) {
    const auto v = as_size(b.get("bytes_per_read"), file, "bytes_per_read");
    if (v == 0 || v > 65536)
      bad_value(b.get("bytes_per_read"), file, "bytes_per_read", "a size from 1 to 65536");
    plan.bytes_per_read = static_cast<std::size_t>(v);
  }
  if (b.has("every_ms")) plan.every_ms = as_ms(b.get("every_ms"), file, "every_ms");
  b.finish();
}

}  // namespace

const GatewayFamily& backpressure_family() {
  static const GatewayFamily family{
      "backpressure",
      "Backpressure",
      "`backend_read: {pause_ms: P, bytes_per_read: N, every_ms: T}`: no read for P ms after "
      "the request, then at most N bytes per read, T ms apart. Not counted as backend "
      "silence.",
      {{"backend_read",
        shapes::mapping({{"pause_ms", shapes::ms(), "no read this long after the request"},
                         {"bytes_per_read", shapes::size(), "at most N per read"},
                         {"every_ms", shapes::ms(), "between reads"}}),
        "read the backend late and slowly"}},
      {&gateway_events::backend_read_paused, &gateway_events::backend_read_resumed},
      &read_keys};
  return family;
}

}  // namespace fh::fake
