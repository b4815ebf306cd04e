// Family "response end": how a response ends (§5.5, §6.2): the empty STDOUT, END_REQUEST, and
// a Content-Length that may lie (RFC 9112 §6.3: the gateway must not trust it blindly).
// responder.cpp ends every response as these keys say.
#include "fake-backends/faults/response_end.hpp"

#include <algorithm>

#include "fake-backends/fake_backend.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

void read_keys(MapReader& r, BackendConfig& config) {
  const auto& file = r.file();
  auto& end = config.response_end;
  if (r.has("content_length")) {
    auto cl = r.get("content_length");
    if (cl.IsScalar()) {
      if (cl.Scalar() != "honest")
        bad_value(cl, file, "content_length", "honest, {more: N} or {fewer: N}");
      end.content_length_offset = 0;
    } else {
      MapReader c(cl, file, "content_length");
      if (c.has("more") == c.has("fewer"))
        throw ScenarioError(c.mark(), "content_length: give exactly one of more, fewer");
      if (c.has("more"))
        end.content_length_offset =
            static_cast<std::int64_t>(as_uint(c.get("more"), file, "more", INT32_MAX));
      if (c.has("fewer"))
        end.content_length_offset =
            -static_cast<std::int64_t>(as_uint(c.get("fewer"), file, "fewer", INT32_MAX));
      c.finish();
    }
  }
  if (r.has("stdout_terminator"))
    end.stdout_terminator = as_bool(r.get("stdout_terminator"), file, "stdout_terminator");
  if (r.has("end_request"))
    end.end_request =
        one_of(r.get("end_request"), file, "end_request", {"sent", "never"}) == "sent";
  if (r.has("end_request_delay_ms"))
    end.end_request_delay_ms = as_ms(r.get("end_request_delay_ms"), file, "end_request_delay_ms");
}

}  // namespace

std::string ResponseEnd::head_for(std::string head, std::uint64_t body_size) const {
  if (!content_length_offset) return head;
  const auto claimed =
      std::max<std::int64_t>(0, static_cast<std::int64_t>(body_size) + *content_length_offset);
  head.insert(head.size() - 2, "Content-Length: " + std::to_string(claimed) + "\r\n");
  return head;
}

const BackendFamily& response_end_family() {
  static const BackendFamily family{
      "response_end",
      "END_REQUEST and Content-Length",
      "`end_request_delay_ms` sends END_REQUEST late (after the empty STDOUT); `end_request: "
      "never` never sends it (and does not close); `stdout_terminator: false` leaves out the "
      "empty STDOUT; `content_length: {more: N} | {fewer: N}` adds a Content-Length header that "
      "lies by N (`honest`: the true length).",
      {},
      {{"content_length",
        shapes::either({shapes::choice({"honest"}),
                        shapes::mapping({{"more", shapes::integer(0, INT32_MAX), ""},
                                         {"fewer", shapes::integer(0, INT32_MAX), ""}})}),
        "a Content-Length header, true or lying"},
       {"stdout_terminator", shapes::boolean(), "false: the empty STDOUT is missing"},
       {"end_request", shapes::choice({"sent", "never"}), "never: END_REQUEST is not sent"},
       {"end_request_delay_ms", shapes::ms(), "between the empty STDOUT and END_REQUEST"}},
      {&response_end_events::stdout_terminator_withheld, &response_end_events::end_request_withheld,
       &response_end_events::end_request_delayed},
      &read_keys};
  return family;
}

}  // namespace fh::fake
