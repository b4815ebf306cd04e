// Family "early END_REQUEST": the backend sends END_REQUEST before the response is over
// (the body goes on after it, and no second END_REQUEST comes), or refuses the request with
// FCGI_OVERLOADED (§5.5).
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

// §5.5: "FCGI_OVERLOADED: rejecting a new request. This happens when the application runs out
// of some resource, e.g. database connections." What a gateway makes of it (502, 503) is its
// own choice; it must not wait for more.
class Overloaded : public FaultAction {
 public:
  explicit Overloaded(std::uint32_t app_status) : app_status_(app_status) {}
  void act(FaultSeam& c, std::uint16_t id) const override {
    if (!c.claim_end_request(id)) return;
    auto rec = fcgi::make_end_request(id, app_status_, fcgi::ProtocolStatus::Overloaded);
    rec.padding_length = c.padding_for(rec.content.size());
    c.queue_record(
        std::move(rec), backend_events::end_request_sent,
        "protocol_status=OVERLOADED app_status=" + std::to_string(app_status_) + " early");
  }
  std::string parameters() const override {
    return app_status_ ? " app_status=" + std::to_string(app_status_) : "";
  }

 private:
  std::uint32_t app_status_;
};

std::shared_ptr<const FaultAction> read_overloaded(language::yaml::MapReader& r) {
  std::uint32_t app_status = 0;
  if (r.has("app_status"))
    app_status = static_cast<std::uint32_t>(
        language::yaml::as_uint(r.get("app_status"), r.file(), "app_status", UINT32_MAX));
  return std::make_shared<Overloaded>(app_status);
}

const BackendVerb kOverloaded{
    {"overloaded",
     "END_REQUEST with FCGI_OVERLOADED now (§5.5); as with end_request, what the app writes "
     "after it still goes out",
     {{"app_status", language::shapes::integer(0, UINT32_MAX), "appStatus (default 0)"}}},
    &read_overloaded};

}  // namespace

const BackendFamily& early_end_request_family() {
  static const BackendFamily family{
      "early_end_request",
      "END_REQUEST early",
      "`do: end_request` writes END_REQUEST (REQUEST_COMPLETE) at its trigger, before the next "
      "record; the body goes on after it. A gateway must not deliver what follows as if it "
      "belonged to the response, nor wait for more. `do: overloaded` rejects the request with "
      "END_REQUEST FCGI_OVERLOADED (§5.5; `app_status` optional).",
      {&kEndRequest, &kOverloaded},
      {},
      {},
      nullptr};
  return family;
}

}  // namespace fh::fake
