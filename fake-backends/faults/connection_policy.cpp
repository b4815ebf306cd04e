// Family "connection policy": what the backend claims and does with a connection: §5.1
// FCGI_KEEP_CONN (honoured, or ignored either way), FCGI_MPXS_CONNS, the lingering close, and
// Go's late-empty-STDIN bug (seed 004).
#include "fake-backends/faults/connection_policy.hpp"

#include "fake-backends/fake_backend.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

void read_keys(MapReader& r, BackendConfig& config) {
  const auto& file = r.file();
  auto& policy = config.policy;
  if (r.has("keep_conn")) {
    const auto k =
        one_of(r.get("keep_conn"), file, "keep_conn", {"honour", "ignore_set", "ignore_clear"});
    policy.keep_conn = k == "honour"       ? KeepConnPolicy::honour
                       : k == "ignore_set" ? KeepConnPolicy::ignore_set
                                           : KeepConnPolicy::ignore_clear;
  }
  if (r.has("mpxs_conns")) policy.mpxs_conns = as_bool(r.get("mpxs_conns"), file, "mpxs_conns");
  if (r.has("linger")) policy.linger = as_bool(r.get("linger"), file, "linger");
  if (r.has("ignore_late_stdin_terminator"))
    policy.ignore_late_stdin_terminator =
        as_bool(r.get("ignore_late_stdin_terminator"), file, "ignore_late_stdin_terminator");
}

}  // namespace

ConnectionPolicy::AfterResponse ConnectionPolicy::after_response(bool keep_conn_flag,
                                                                 bool stdin_complete) const {
  using Then = AfterResponse::Then;
  AfterResponse out;
  // §5.1: FCGI_KEEP_CONN clear means the application closes the connection after the request.
  bool close_it = !keep_conn_flag;
  if (keep_conn == KeepConnPolicy::ignore_set && keep_conn_flag) {
    out.note = &policy_events::keep_conn_ignored;
    out.why = "closing although FCGI_KEEP_CONN is set";
    close_it = true;
  } else if (keep_conn == KeepConnPolicy::ignore_clear && !keep_conn_flag) {
    out.note = &policy_events::keep_conn_ignored;
    out.why = "staying open although FCGI_KEEP_CONN is clear";
    close_it = false;
  }
  if (!close_it) {
    out.then = Then::keep_open;
  } else if (!stdin_complete && ignore_late_stdin_terminator) {
    // Go net/http/fcgi < 1.16: the connection stays open; a late empty STDIN is ignored.
    out.then = Then::wait_for_late_stdin;
  } else {
    out.then = Then::close;
  }
  return out;
}

const BackendFamily& connection_policy_family() {
  static const BackendFamily family{
      "connection_policy",
      "Connection policy",
      "`keep_conn: honour | ignore_set | ignore_clear`: §5.1 (close after the response iff "
      "FCGI_KEEP_CONN is clear), close although it is set, or stay open although it is clear. "
      "`mpxs_conns: true` multiplexes (and says so in GET_VALUES); false answers a second "
      "request on a connection with CANT_MPX_CONN. `linger: false` turns off the lingering "
      "close (draining unread STDIN before closing): closing with unread input then sends RST "
      "(uWSGI, seed 5). `ignore_late_stdin_terminator: true` ignores an empty STDIN that comes "
      "after END_REQUEST and leaves the connection open although FCGI_KEEP_CONN is clear (Go "
      "net/http/fcgi < 1.16, seed 4).",
      {},
      {{"keep_conn", shapes::choice({"honour", "ignore_set", "ignore_clear"}),
        "what FCGI_KEEP_CONN does"},
       {"mpxs_conns", shapes::boolean(), "multiplex requests on a connection"},
       {"linger", shapes::boolean(), "false: close at once, unread input or not"},
       {"ignore_late_stdin_terminator", shapes::boolean(), "Go net/http/fcgi < 1.16 (seed 4)"}},
      {&policy_events::keep_conn_ignored, &policy_events::lingering,
       &policy_events::stdin_terminator_ignored},
      &read_keys};
  return family;
}

}  // namespace fh::fake
