// Family "stalls": the backend stops reading and/or writing on a connection, for a time,
// until an event of any party, or for the rest of the run; receive_buffer makes the gateway
// feel a reading stall quickly (backpressure).
#include "fake-backends/faults/stalls.hpp"

#include "fake-backends/fake_backend.hpp"
#include "language/event_names.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

inline constexpr events::EventDecl stall_ended{"backend",
                                               "stall_ended",
                                               events::Source::fake_backend,
                                               "a stall ended early: its `until` event came",
                                               "",
                                               "the event"};

class Stall : public FaultAction {
 public:
  Stall(bool reading, bool writing, std::uint32_t stall_ms, std::optional<events::Selector> until)
      : reading_(reading), writing_(writing), stall_ms_(stall_ms), until_(std::move(until)) {}

  void act(FaultSeam& c, std::uint16_t) const override {
    const auto until = stall_ms_ ? FaultSeam::Clock::now() + std::chrono::milliseconds(stall_ms_)
                                 : FaultSeam::Clock::time_point::max();
    c.stall(reading_, writing_, until);
    if (!until_) return;
    c.subscribe_while_open(*until_,
                           [&c, reading = reading_, writing = writing_](const events::Event& e) {
                             if (c.end_stall(reading, writing))
                               c.publish(stall_ended, 0, e.party + "." + e.name);
                           });
  }

  std::string parameters() const override {
    std::string out;
    if (stall_ms_) out += " stall_ms=" + std::to_string(stall_ms_);
    if (until_) out += " until=" + until_->to_string();
    return out;
  }

 private:
  bool reading_, writing_;
  std::uint32_t stall_ms_;
  std::optional<events::Selector> until_;
};

template <bool Reading, bool Writing>
std::shared_ptr<const FaultAction> read_stall(MapReader& r) {
  const auto& file = r.file();
  std::uint32_t stall_ms = 0;
  std::optional<events::Selector> until;
  if (r.has("stall_ms")) stall_ms = as_ms(r.get("stall_ms"), file, "stall_ms");
  if (r.has("until"))
    until = read_event_name(r.get("until"), file, "until", EventNameRules{"", false, true});
  return std::make_shared<Stall>(Reading, Writing, stall_ms, until);
}

const std::vector<Key> kStallKeys = {
    {"stall_ms", shapes::ms(), "how long; 0 or absent: until `until`, or for the rest of the run"},
    {"until", shapes::event(), "end the stall at this event (party.name)"}};

const BackendVerb kStall{{"stall", "stop reading and writing on the connection", kStallKeys},
                         &read_stall<true, true>};
const BackendVerb kStallReading{
    {"stall_reading", "stop reading (the gateway's writes block once the buffers fill)",
     kStallKeys},
    &read_stall<true, false>};
const BackendVerb kStallWriting{{"stall_writing", "stop writing", kStallKeys},
                                &read_stall<false, true>};

void read_keys(MapReader& r, BackendConfig& config) {
  if (!r.has("receive_buffer")) return;
  auto n = as_size(r.get("receive_buffer"), r.file(), "receive_buffer");
  if (n == 0 || n > (64u << 20))
    bad_value(r.get("receive_buffer"), r.file(), "receive_buffer", "1 byte to 64MiB");
  config.stalls.receive_buffer = static_cast<std::uint32_t>(n);
}

}  // namespace

const BackendFamily& stalls_family() {
  static const BackendFamily family{
      "stalls",
      "Stalls",
      "The backend stops reading (`stall_reading`: the gateway's writes block once the socket "
      "buffers fill), writing (`stall_writing`) or both (`stall`), for `stall_ms`, until the "
      "`until` event of any party, or for the rest of the run. `receive_buffer` sets SO_RCVBUF "
      "of the listener and its connections, so backpressure is quick.",
      {&kStall, &kStallReading, &kStallWriting},
      {{"receive_buffer", shapes::size(), "SO_RCVBUF of the listener and connections"}},
      {&stall_ended},
      &read_keys};
  return family;
}

}  // namespace fh::fake
