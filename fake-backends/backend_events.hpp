// The fake backend's own events (party "backend"), published on the run's bus through these
// declarations. The events of its fault families are declared in each family's file
// (fake-backends/faults/); backend_events() lists all of them.
#pragma once

#include <string>
#include <vector>

#include "events/declaration.hpp"

namespace fh::fake::backend_events {

using events::EventDecl;
using events::Source;

// The protocol, in the order a request goes (FastCGI 1.0 section numbers).
inline constexpr EventDecl accepted{
    "backend", "accepted", Source::fake_backend, "a connection was accepted, nothing read yet",
    "",        ""};
inline constexpr EventDecl begin_request{
    "backend",
    "begin_request",
    Source::fake_backend,
    "BEGIN_REQUEST received (§5.1)",
    "",
    "role, flags, keep_conn, index (arrival order across connections)"};
inline constexpr EventDecl params_complete{
    "backend",
    "params_complete",
    Source::fake_backend,
    "the empty PARAMS record received: the stream ended (§3.3)",
    "",
    "count of name-value pairs"};
inline constexpr EventDecl stdin_terminator_received{
    "backend",
    "stdin_terminator_received",
    Source::fake_backend,
    "the empty STDIN record received: the request body ended (§5.3)",
    "",
    "body bytes"};
inline constexpr EventDecl param_duplicated{
    "backend",
    "param_duplicated",
    Source::fake_backend,
    "a parameter name came twice in one request's PARAMS (RFC 3875 §4.1: one value per name)",
    "",
    "the name"};
inline constexpr EventDecl param_name_empty{"backend",
                                            "param_name_empty",
                                            Source::fake_backend,
                                            "a parameter with an empty name came in PARAMS",
                                            "",
                                            "its value"};
inline constexpr EventDecl content_length_mismatch{
    "backend",
    "content_length_mismatch",
    Source::fake_backend,
    "the request body's STDIN length differs from CONTENT_LENGTH (RFC 3875 §4.1.2), or a body "
    "came without it",
    "body bytes received",
    "CONTENT_LENGTH and the bytes"};
inline constexpr EventDecl request_released{
    "backend",
    "request_released",
    Source::fake_backend,
    "the gateway gave up a request before its END_REQUEST: ABORT_REQUEST, or its close or reset "
    "of the connection (§5.4, §3.5)",
    "",
    "how: abort_request, peer_closed, read_error or write_error"};
inline constexpr EventDecl headers_sent{
    "backend", "headers_sent", Source::fake_backend, "the CGI response head written as STDOUT",
    "",        "status"};
inline constexpr EventDecl end_request_sent{
    "backend",
    "end_request_sent",
    Source::fake_backend,
    "END_REQUEST written (§5.5)",
    "",
    "protocol and app status, body bytes; 'early' when a fault sent it"};
inline constexpr EventDecl abort_request{
    "backend", "abort_request", Source::fake_backend, "ABORT_REQUEST received (§5.4)", "", ""};
inline constexpr EventDecl get_values{"backend",
                                      "get_values",
                                      Source::fake_backend,
                                      "GET_VALUES received and answered (§4.1)",
                                      "",
                                      "the variables asked"};
inline constexpr EventDecl unknown_type_sent{
    "backend",
    "unknown_type_sent",
    Source::fake_backend,
    "an unknown management record answered with UNKNOWN_TYPE (§4.2)",
    "",
    "the type"};
inline constexpr EventDecl unknown_role{
    "backend", "unknown_role", Source::fake_backend, "a role other than RESPONDER refused (§5.5)",
    "",        "role"};
inline constexpr EventDecl cant_mpx_conn{
    "backend",
    "cant_mpx_conn",
    Source::fake_backend,
    "a second request on a connection refused with CANT_MPX_CONN (§5.5)",
    "",
    ""};
inline constexpr EventDecl ignored_record{"backend",
                                          "ignored_record",
                                          Source::fake_backend,
                                          "a record it had no use for (logged once per kind)",
                                          "",
                                          "type and why"};
// The connection.
inline constexpr EventDecl peer_closed{
    "backend", "peer_closed", Source::fake_backend, "the gateway closed its side (EOF)", "", ""};
inline constexpr EventDecl connection_closed{
    "backend", "connection_closed", Source::fake_backend, "the backend closed the connection", "",
    "why"};
inline constexpr EventDecl write_error{
    "backend", "write_error", Source::fake_backend, "a write failed (EPIPE, ECONNRESET, ...)",
    "",        "the error"};
inline constexpr EventDecl read_error{"backend",       "read_error", Source::fake_backend,
                                      "a read failed", "",           "the error"};
inline constexpr EventDecl protocol_error{
    "backend", "protocol_error", Source::fake_backend, "the gateway's bytes are not FastCGI 1.0",
    "",        "what was wrong"};
inline constexpr EventDecl request_dropped{
    "backend",
    "request_dropped",
    Source::fake_backend,
    "the gateway closed before the request's input was complete",
    "",
    ""};
inline constexpr EventDecl response_abandoned{"backend",
                                              "response_abandoned",
                                              Source::fake_backend,
                                              "the response stopped because our side was shut down",
                                              "",
                                              ""};
inline constexpr EventDecl accept_error{
    "backend", "accept_error", Source::fake_backend, "accept() failed (it retries after 10 ms)",
    "",        "the error"};
// Faults in general (each family declares its own effects).
std::vector<std::string> fault_verbs();  // every family's verbs (faults/families.cpp)
inline constexpr EventDecl fault{
    "backend",       "fault:",    Source::fake_backend,
    "a fault acted", "",          "at=<its trigger> and its parameters",
    "<verb>",        &fault_verbs};
inline constexpr EventDecl fault_skipped{
    "backend",
    "fault_skipped",
    Source::fake_backend,
    "a fault on another party's event found no open connection to act on",
    "",
    "the fault"};

/// Every event the fake backend publishes: the above and each family's.
const events::EventList& all();

}  // namespace fh::fake::backend_events
