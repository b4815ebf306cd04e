// The fake gateway's events (party "gateway"), published on the run's bus through these
// declarations; value and detail as each says. Probes and bug emulations publish these too.
#pragma once

#include <string>
#include <vector>

#include "events/declaration.hpp"

namespace fh::fake::gateway_events {

using events::EventDecl;
using events::Source;

// The client side.
inline constexpr EventDecl client_accepted{
    "gateway", "client_accepted",     Source::fake_gateway, "a client connection was accepted",
    "",        "the client's address"};
inline constexpr EventDecl request_head{
    "gateway", "request_head",           Source::fake_gateway, "an HTTP request head was read",
    "",        "method, target, version"};
inline constexpr EventDecl client_error{
    "gateway", "client_error", Source::fake_gateway, "reading or writing the client failed",
    "",        "the error"};
inline constexpr EventDecl client_closed{"gateway",
                                         "client_closed",
                                         Source::fake_gateway,
                                         "the client closed its connection between requests",
                                         "",
                                         ""};
inline constexpr EventDecl accept_error{
    "gateway", "accept_error", Source::fake_gateway, "accept() failed", "", "the error"};
// The backend connection.
inline constexpr EventDecl backend_connected{
    "gateway", "backend_connected",    Source::fake_gateway, "a new backend connection is up",
    "",        "the backend's address"};
inline constexpr EventDecl backend_connect_failed{
    "gateway",
    "backend_connect_failed",
    Source::fake_gateway,
    "connecting the backend failed or timed out (the client gets 502)",
    "",
    "address: error"};
inline constexpr EventDecl backend_connection_reused{
    "gateway",
    "backend_connection_reused",
    Source::fake_gateway,
    "keep_conn: an idle kept connection carries this request",
    "requests on it before",
    "connection N"};
inline constexpr EventDecl backend_connection_idle{
    "gateway",
    "backend_connection_idle",
    Source::fake_gateway,
    "keep_conn: the connection went back to the pool",
    "",
    "connection N"};
inline constexpr EventDecl backend_connection_dropped{
    "gateway",
    "backend_connection_dropped",
    Source::fake_gateway,
    "keep_conn: a pooled connection the backend closed while idle was dropped",
    "",
    "connection N"};
// The request to the backend.
inline constexpr EventDecl backend_bytes_written{
    "gateway",
    "backend_bytes_written",
    Source::fake_gateway,
    "one write to the backend (personalities differ here)",
    "bytes of the write",
    ""};
inline constexpr EventDecl params_sent{"gateway",
                                       "params_sent",
                                       Source::fake_gateway,
                                       "BEGIN_REQUEST and PARAMS are written (§5.1, §5.2)",
                                       "",
                                       "how many params"};
inline constexpr EventDecl stdin_bytes_sent{"gateway",
                                            "stdin_bytes_sent",
                                            Source::fake_gateway,
                                            "request body written as STDIN",
                                            "body bytes so far",
                                            "bytes of this piece"};
inline constexpr EventDecl stdin_terminator_sent{
    "gateway",
    "stdin_terminator_sent",
    Source::fake_gateway,
    "the empty STDIN is written: the request is out (§5.3)",
    "empty STDIN records written",
    "body bytes, 'doubled'"};
inline constexpr EventDecl stdin_terminator_withheld{
    "gateway",
    "stdin_terminator_withheld",
    Source::fake_gateway,
    "no empty STDIN was written (missing, or its trigger did not come)",
    "",
    "why"};
inline constexpr EventDecl abort_request_sent{
    "gateway", "abort_request_sent", Source::fake_gateway, "ABORT_REQUEST written (§5.4)",
    "",        "what triggered it"};
inline constexpr EventDecl backend_closed_by_gateway{
    "gateway",
    "backend_closed_by_gateway",
    Source::fake_gateway,
    "abort: the gateway closed (FIN) or reset (RST) the backend connection",
    "",
    "close|reset and what triggered it"};
inline constexpr EventDecl backend_write_error{
    "gateway",
    "backend_write_error",
    Source::fake_gateway,
    "a write to the backend failed (the socket's SO_ERROR is checked after each write)",
    "errno",
    "EPIPE, ECONNRESET, ..."};
// The response from the backend.
inline constexpr EventDecl backend_read_error{
    "gateway", "backend_read_error", Source::fake_gateway, "reading the backend failed",
    "errno",   "the error"};
inline constexpr EventDecl backend_read_paused{
    "gateway",
    "backend_read_paused",
    Source::fake_gateway,
    "the gateway stopped reading the backend (backend_read, or stream_response_body 2)",
    "unsent bytes or pause ms",
    "why"};
inline constexpr EventDecl backend_read_resumed{
    "gateway", "backend_read_resumed", Source::fake_gateway, "reading the backend resumed", "",
    "why"};
inline constexpr EventDecl stderr_received{
    "gateway", "stderr",           Source::fake_gateway, "a STDERR record from the backend",
    "",        "its content bytes"};
inline constexpr EventDecl end_request_received{"gateway",
                                                "end_request_received",
                                                Source::fake_gateway,
                                                "END_REQUEST from the backend",
                                                "protocol status",
                                                "app and protocol status (probes: which probe)"};
inline constexpr EventDecl awaiting_backend_close{
    "gateway",
    "awaiting_backend_close",
    Source::fake_gateway,
    "wait_for_backend_close: END_REQUEST came; the response ends only at the backend's close",
    "",
    ""};
inline constexpr EventDecl backend_closed{
    "gateway",
    "backend_closed",
    Source::fake_gateway,
    "wait_for_backend_close: the backend closed after END_REQUEST",
    "",
    ""};
inline constexpr EventDecl backend_close_timeout{
    "gateway",
    "backend_close_timeout",
    Source::fake_gateway,
    "wait_for_backend_close: no close after END_REQUEST within backend_timeout_ms",
    "",
    ""};
inline constexpr EventDecl backend_record_ignored{
    "gateway",
    "backend_record_ignored",
    Source::fake_gateway,
    "a record for another request id, after END_REQUEST, or of an unknown type",
    "",
    "type and request id"};
inline constexpr EventDecl backend_error{
    "gateway", "backend_error", Source::fake_gateway, "the backend failed the request", "", "how"};
inline constexpr EventDecl backend_timeout{"gateway",
                                           "backend_timeout",
                                           Source::fake_gateway,
                                           "no backend record for backend_timeout_ms",
                                           "",
                                           ""};
// The response to the client.
inline constexpr EventDecl response_head_sent{"gateway",
                                              "response_head_sent",
                                              Source::fake_gateway,
                                              "the HTTP response head went to the client",
                                              "status",
                                              "status"};
inline constexpr EventDecl response_complete{
    "gateway", "response_complete", Source::fake_gateway, "the client got the whole response", "",
    ""};
inline constexpr EventDecl excess_body{"gateway",
                                       "excess_body",
                                       Source::fake_gateway,
                                       "the backend sent more body than its Content-Length",
                                       "",
                                       "how many bytes were dropped"};
inline constexpr EventDecl client_truncated{
    "gateway",
    "client_truncated",
    Source::fake_gateway,
    "the response was cut after its head (no final chunk, short Content-Length)",
    "",
    "why"};
std::vector<std::string> answered_statuses();
inline constexpr EventDecl answered{"gateway",
                                    "answered_",
                                    Source::fake_gateway,
                                    "the gateway answered with its own error response",
                                    "",
                                    "why",
                                    "<status>",
                                    &answered_statuses};
inline constexpr EventDecl bug_emulated{
    "gateway", "bug_emulated", Source::fake_gateway, "an emulated bug acted (see the `bug` key)",
    "",        "which bug"};
inline constexpr EventDecl anchor_unavailable{"gateway",
                                              "anchor_unavailable",
                                              Source::fake_gateway,
                                              "a trigger on a bus event had no bus to wait on",
                                              "",
                                              "the event"};
// Probes (the `probes` key), each on a connection of its own.
inline constexpr EventDecl probe_sent{
    "gateway", "probe_sent", Source::fake_gateway, "a probe was written", "", "which probe"};
inline constexpr EventDecl probe_timeout{
    "gateway", "probe_timeout", Source::fake_gateway, "a probe got no answer in backend_timeout_ms",
    "",        "which probe"};
inline constexpr EventDecl probe_connect_failed{
    "gateway", "probe_connect_failed", Source::fake_gateway, "a probe could not connect",
    "",        "which probe: error"};
inline constexpr EventDecl probe_connection_closed{
    "gateway",
    "probe_connection_closed",
    Source::fake_gateway,
    "the backend closed a probe's connection before all answers",
    "answers so far",
    "which probe: error"};
inline constexpr EventDecl stdout_terminator_received{
    "gateway",
    "stdout_terminator_received",
    Source::fake_gateway,
    "the empty STDOUT record came: the backend's response stream ended (§3.3)",
    "",
    ""};
inline constexpr EventDecl stdout_unterminated{
    "gateway",
    "stdout_unterminated",
    Source::fake_gateway,
    "END_REQUEST came before the empty STDOUT record that ends the stream (§3.3)",
    "",
    ""};
inline constexpr EventDecl end_request_late{
    "gateway",
    "end_request_late",
    Source::fake_gateway,
    "END_REQUEST came 500 ms or more after the response's last STDOUT record (the empty one, or "
    "the last with data when the backend omits it; §5.5)",
    "the lag in ms",
    "the lag"};
inline constexpr EventDecl multiplex_claim_broken{
    "gateway",
    "multiplex_claim_broken",
    Source::fake_gateway,
    "GET_VALUES said FCGI_MPXS_CONNS=1, but interleaved requests were not all completed (§4.1, "
    "§5.5)",
    "requests completed",
    "which probe: what came back"};
inline constexpr EventDecl get_values_result_received{"gateway",
                                                      "get_values_result_received",
                                                      Source::fake_gateway,
                                                      "GET_VALUES_RESULT from the backend (§4.1)",
                                                      "pairs",
                                                      "NAME=VALUE ..."};
inline constexpr EventDecl unknown_type_received{"gateway",
                                                 "unknown_type_received",
                                                 Source::fake_gateway,
                                                 "UNKNOWN_TYPE from the backend (§4.2)",
                                                 "the type",
                                                 "which probe: type N"};

/// Every event the fake gateway publishes.
const events::EventList& all();

}  // namespace fh::fake::gateway_events
