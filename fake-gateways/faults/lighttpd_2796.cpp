// Bug emulation "lighttpd_2796" (seed 000, lighttpd bug #2796): with stream-response-body 2,
// once the gateway paused reading the backend for a slow client, FDEVENT_IN is never re-armed:
// the response hangs.
#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"

namespace fh::fake {

namespace {

class Lighttpd2796 : public GatewayBug {
 public:
  std::string name() const override { return "lighttpd_2796"; }
  bool resumes_reading() const override { return false; }
};

}  // namespace

const GatewayFamily& lighttpd_2796_family() {
  static const GatewayFamily family{
      "lighttpd_2796",
      "Bug: lighttpd #2796 (seed 000)",
      "`bug: lighttpd_2796` (needs `stream_response_body: 2`): reading the backend is never "
      "re-armed after the pause for a slow client: the response hangs. Fixed: it resumes once "
      "the client caught up.",
      {},
      {},
      nullptr,
      [] { return std::shared_ptr<const GatewayBug>(std::make_shared<Lighttpd2796>()); },
      [](const GatewayConfig& config) {
        return config.relay.minimal_buffering()
                   ? std::string()
                   : std::string("bug lighttpd_2796 needs stream_response_body: 2");
      }};
  return family;
}

}  // namespace fh::fake
