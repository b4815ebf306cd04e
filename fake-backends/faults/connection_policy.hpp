// Connection policy: what the backend does with a connection after a response and what it
// claims and allows on it (keep_conn, mpxs_conns, linger, ignore_late_stdin_terminator).
// faults/connection_policy.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "events/declaration.hpp"

namespace fh::fake {

enum class KeepConnPolicy {
  honour,        // §5.1: close after the response iff FCGI_KEEP_CONN is clear
  ignore_set,    // close although FCGI_KEEP_CONN is set
  ignore_clear,  // stay open although FCGI_KEEP_CONN is clear
};

struct ConnectionPolicy {
  KeepConnPolicy keep_conn = KeepConnPolicy::honour;
  bool mpxs_conns = false;  // FCGI_MPXS_CONNS answered in GET_VALUES; multiplex if true
  bool linger = true;       // lingering close: drain unread input before closing
  /// Go net/http/fcgi < 1.16: an empty STDIN arriving after END_REQUEST is ignored and the
  /// connection stays open although FCGI_KEEP_CONN is clear.
  bool ignore_late_stdin_terminator = false;

  /// After a request's END_REQUEST: what happens to its connection.
  struct AfterResponse {
    enum class Then { keep_open, close, wait_for_late_stdin } then = Then::keep_open;
    const events::EventDecl* note = nullptr;  // published first when set (keep_conn_ignored)
    std::string why;                          // the note's detail, or the close's reason
  };
  AfterResponse after_response(bool keep_conn_flag, bool stdin_complete) const;
};

}  // namespace fh::fake

namespace fh::fake::policy_events {
using events::EventDecl;
using events::Source;
inline constexpr EventDecl keep_conn_ignored{
    "backend",
    "keep_conn_ignored",
    Source::fake_backend,
    "keep_conn: ignore_set / ignore_clear acted after a response",
    "",
    "what it did"};
inline constexpr EventDecl lingering{
    "backend",
    "lingering",
    Source::fake_backend,
    "the response is out; unread input is drained before closing (the lingering close)",
    "",
    ""};
inline constexpr EventDecl stdin_terminator_ignored{
    "backend",
    "stdin_terminator_ignored",
    Source::fake_backend,
    "ignore_late_stdin_terminator: an empty STDIN after END_REQUEST was ignored, the connection "
    "stays open",
    "",
    ""};
}  // namespace fh::fake::policy_events
