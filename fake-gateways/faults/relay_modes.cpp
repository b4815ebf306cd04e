// Family "relay modes": how the response goes from the backend to the client: lighttpd's
// server.stream-response-body (buffered, streamed, streamed with minimal buffering) and
// nginx's wait for the backend's close without keep-conn (seed 004).
#include "fake-gateways/faults/relay_modes.hpp"

#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"
#include "fake-gateways/gateway_events.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

void read_keys(MapReader& r, GatewayConfig& config) {
  const auto& file = r.file();
  if (r.has("stream_response_body")) {
    const auto mode =
        one_of(r.get("stream_response_body"), file, "stream_response_body", {"0", "1", "2"});
    config.relay.stream_response_body = static_cast<std::uint32_t>(mode[0] - '0');
  }
  if (r.has("wait_for_backend_close"))
    config.relay.wait_for_backend_close =
        as_bool(r.get("wait_for_backend_close"), file, "wait_for_backend_close");
}

}  // namespace

const GatewayFamily& relay_modes_family() {
  static const GatewayFamily family{
      "relay_modes",
      "Response relay modes",
      "`stream_response_body: 0 | 1 | 2` (lighttpd): 0 holds the response until END_REQUEST; 1 "
      "streams with an unbounded queue; 2 stops reading the backend while more than 64 KiB is "
      "unsent to the client (client socket SO_SNDBUF fixed at 64 KiB) and resumes when it "
      "drained. Unset: each backend read is written to the client before the next read. "
      "`wait_for_backend_close: true` (nginx, keep-conn off): the client response ends only "
      "when the backend closes, or at backend_timeout_ms (seed 004).",
      {{"stream_response_body",
        shapes::either({shapes::integer(0, 2), shapes::choice({"0", "1", "2"})}),
        "lighttpd's server.stream-response-body"},
       {"wait_for_backend_close", shapes::boolean(), "end the response at the backend's close"}},
      {&gateway_events::awaiting_backend_close, &gateway_events::backend_closed,
       &gateway_events::backend_close_timeout},
      &read_keys};
  return family;
}

}  // namespace fh::fake
