// The events of party "wire": what the pcap observer decoded from the run's TCP legs
// (observe: {wire: true}), `connection` = the TCP connection's number in the capture. The
// completeness oracle's verdict is one of them.
#pragma once

#include "events/declaration.hpp"

namespace fh::observers::wire_events {

using events::EventDecl;
using events::Source;

// TCP.
inline constexpr EventDecl connection_open{
    "wire", "connection_open", Source::wire, "a SYN opened a TCP leg", "", "who -> whom"};
inline constexpr EventDecl tcp_fin{"wire",           "tcp_fin", Source::wire,
                                   "a FIN on a leg", "",        "from client|gateway|backend"};
inline constexpr EventDecl tcp_rst{
    "wire", "tcp_rst", Source::wire, "an RST on a leg", "", "from client|gateway|backend"};
inline constexpr EventDecl tcp_hole{
    "wire",          "tcp_hole",
    Source::wire,    "bytes missing in a direction (the capture lost them)",
    "bytes missing", "from whom, at which offset"};
// FastCGI (the gateway-backend leg).
inline constexpr EventDecl fcgi_record{"wire",          "fcgi_record",
                                       Source::wire,    "one FastCGI record, either direction",
                                       "content bytes", "type id len pad, from whom, its segment"};
inline constexpr EventDecl params_terminator{
    "wire", "params_terminator", Source::wire, "an empty PARAMS record", "", "as fcgi_record"};
inline constexpr EventDecl stdin_terminator{
    "wire",       "stdin_terminator",
    Source::wire, "an empty STDIN record (the request body's end)",
    "",           "as fcgi_record: 'same segment' or 'new segment'"};
inline constexpr EventDecl stdout_terminator{
    "wire", "stdout_terminator", Source::wire, "an empty STDOUT record", "", "as fcgi_record"};
inline constexpr EventDecl stderr_terminator{
    "wire", "stderr_terminator", Source::wire, "an empty STDERR record", "", "as fcgi_record"};
inline constexpr EventDecl data_terminator{
    "wire", "data_terminator", Source::wire, "an empty DATA record", "", "as fcgi_record"};
inline constexpr EventDecl begin_request{
    "wire", "begin_request", Source::wire, "BEGIN_REQUEST on the wire", "role", "role and flags"};
inline constexpr EventDecl params{"wire",       "params",
                                  Source::wire, "a request's PARAMS stream, decoded",
                                  "pairs",      "REQUEST_METHOD, REQUEST_URI, ..."};
inline constexpr EventDecl abort_request{
    "wire", "abort_request", Source::wire, "ABORT_REQUEST on the wire", "", ""};
inline constexpr EventDecl end_request{
    "wire",       "end_request",
    Source::wire, "END_REQUEST on the wire",
    "app status", "protocol status (FCGI_REQUEST_COMPLETE, ...)"};
inline constexpr EventDecl stdout_bytes{
    "wire",       "stdout_bytes",
    Source::wire, "a request's STDOUT after the CGI head: body bytes",
    "body bytes", "total STDOUT and body"};
inline constexpr EventDecl fcgi_error{"wire",       "fcgi_error",
                                      Source::wire, "bytes that are not FastCGI 1.0",
                                      "offset",     "what was wrong"};
inline constexpr EventDecl fcgi_truncated{
    "wire", "fcgi_truncated", Source::wire, "a leg ended inside a record", "bytes buffered", ""};
// HTTP (the client-gateway leg).
inline constexpr EventDecl http_request_head{
    "wire", "http_request_head", Source::wire, "an HTTP request head", "", "its first line"};
inline constexpr EventDecl http_response_head{"wire",       "http_response_head",
                                              Source::wire, "an HTTP response head",
                                              "status",     "its first line and framing"};
inline constexpr EventDecl http_response_complete{
    "wire",       "http_response_complete",
    Source::wire, "an HTTP response whose framing completed",
    "body bytes", "framing"};
inline constexpr EventDecl http_response_truncated{
    "wire",       "http_response_truncated",
    Source::wire, "an HTTP response cut before its framing ended",
    "body bytes", "why"};
// Judgements and the capture itself.
inline constexpr EventDecl completeness{
    "wire",
    "completeness",
    Source::wire,
    "the completeness oracle's verdict on one HTTP request",
    "body bytes",
    "whole | cut-after-complete | error-after-complete | silent-truncation | "
    "visible-truncation | failure-answered | bytes-differ | status-changed | "
    "no-backend-request | no-response, with the evidence"};
inline constexpr EventDecl capture_stopped{"wire",         "capture_stopped",
                                           Source::wire,   "the capture ended",
                                           "packets lost", "libpcap's counts"};

/// The empty record of a stream type (PARAMS, STDIN, STDOUT, STDERR, DATA); nullptr else.
const EventDecl* terminator_of(std::uint8_t type);

const events::EventList& all();

}  // namespace fh::observers::wire_events
