// Bug emulation "nginx_empty_200" (seed 001 problem 2): any backend I/O error while a request
// body over 4 KiB is being sent (a failed write, or the close seen first by the reader) ends
// in 200 with an empty body.
#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"

namespace fh::fake {

namespace {

class NginxEmpty200 : public GatewayBug {
 public:
  std::string name() const override { return "nginx_empty_200"; }
  std::optional<BugAnswer> on_stdin_write_error(const ExchangeFacts& x,
                                                const std::string&) const override {
    return applies(x);
  }
  std::optional<BugAnswer> on_backend_failure(const ExchangeFacts& x) const override {
    return applies(x);
  }

 private:
  static std::optional<BugAnswer> applies(const ExchangeFacts& x) {
    if (x.content_length.value_or(0) <= 4096 || x.request_out || x.head_sent || x.client_gone)
      return std::nullopt;
    return BugAnswer{BugAnswer::Kind::empty_200, 200, "empty body after a backend I/O error"};
  }
};

}  // namespace

const GatewayFamily& nginx_empty_200_family() {
  static const GatewayFamily family{
      "nginx_empty_200",
      "Bug: nginx's empty 200 (seed 001)",
      "`bug: nginx_empty_200`: a backend I/O error while a body over 4 KiB is being sent "
      "answers 200 with an empty body. Fixed: 502, or the backend's complete response.",
      {},
      {},
      nullptr,
      [] { return std::shared_ptr<const GatewayBug>(std::make_shared<NginxEmpty200>()); },
      nullptr};
  return family;
}

}  // namespace fh::fake
