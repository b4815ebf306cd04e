// Bug emulation "fail_on_stdin_write_error" (seed 001 problem 1, Apache mod_proxy_fcgi): a
// failed write of the request body (EPIPE/ECONNRESET) fails the request with 503, although
// the backend's complete response is (or will be) readable.
#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"

namespace fh::fake {

namespace {

class FailOnStdinWriteError : public GatewayBug {
 public:
  std::string name() const override { return "fail_on_stdin_write_error"; }
  std::optional<BugAnswer> on_stdin_write_error(const ExchangeFacts&,
                                                const std::string& error) const override {
    return BugAnswer{BugAnswer::Kind::error_status, 503,
                     "error writing the request body to the backend: " + error};
  }
};

}  // namespace

const GatewayFamily& fail_on_stdin_write_error_family() {
  static const GatewayFamily family{
      "fail_on_stdin_write_error",
      "Bug: Apache's 503 on a failed STDIN write (seed 001)",
      "`bug: fail_on_stdin_write_error`: a failed STDIN write (EPIPE/ECONNRESET; the socket's "
      "SO_ERROR is checked after each write) answers 503. Fixed: keep reading the backend's "
      "answer.",
      {},
      {},
      nullptr,
      [] { return std::shared_ptr<const GatewayBug>(std::make_shared<FailOnStdinWriteError>()); },
      nullptr};
  return family;
}

}  // namespace fh::fake
