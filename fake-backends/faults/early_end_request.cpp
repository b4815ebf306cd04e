// Family "early END_REQUEST": the backend sends END_REQUEST before the response is over
// (the body goes on after it, and no second END_REQUEST comes).
#include "fake-backends/backend_events.hpp"
#include "fake-backends/fake_backend.hpp"

namespace fh::fake {

namespace {

class EndRequestNow : public FaultAction {
 public:
  void act(FaultSeam& c, std::uint16_t id) const override {
    if (!c.claim_end_request(id)) return;  // §5.5: one END_REQUEST per request
    auto rec = fcgi::make_end_request(id, 0, fcgi::ProtocolStatus::RequestComplete);
    rec.padding_length = c.padding_for(rec.content.size());
    c.queue_record(std::move(rec), backend_events::end_request_sent,
                   "protocol_status=REQUEST_COMPLETE app_status=0 early");
  }
};

std::shared_ptr<const FaultAction> read_end_request(language::yaml::MapReader&) {
  return std::make_shared<EndRequestNow>();
}

const BackendVerb kEndRequest{
    {"end_request", "write END_REQUEST now; the response goes on without a second one", {}},
    &read_end_request};

}  // namespace

const BackendFamily& early_end_request_family() {
  static const BackendFamily family{
      "early_end_request",
      "END_REQUEST early",
      "`do: end_request` writes END_REQUEST (REQUEST_COMPLETE) at its trigger, before the next "
      "record; the body goes on after it. A gateway must not deliver what follows as if it "
      "belonged to the response, nor wait for more.",
      {&kEndRequest},
      {},
      {},
      nullptr};
  return family;
}

}  // namespace fh::fake
