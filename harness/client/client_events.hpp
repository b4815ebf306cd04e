// The events of party "client": the harness's scripted HTTP client (and the runner's
// request_started), `connection` = the request's number (1-based). docs/faults-client.md.
#pragma once

#include <string>
#include <vector>

#include "events/declaration.hpp"

namespace fh::client::client_events {

using events::EventDecl;
using events::Source;

inline constexpr EventDecl request_started{
    "client", "request_started",    Source::client, "the runner starts the request",
    "",       "name: method target"};
inline constexpr EventDecl connected{"client",
                                     "connected",
                                     Source::client,
                                     "the TCP connect completed (once per connection, with its "
                                     "first request's number)",
                                     "",
                                     ""};
inline constexpr EventDecl request_body_paced{"client",           "request_body_paced",
                                              Source::client,     "body_pace took effect",
                                              "bytes per period", ""};
inline constexpr EventDecl request_body_stalled{"client",       "request_body_stalled",
                                                Source::client, "body_stall took effect",
                                                "stall ms",     "its trigger"};
inline constexpr EventDecl request_body_resumed{
    "client", "request_body_resumed", Source::client, "the stall ended", "body bytes sent", ""};
inline constexpr EventDecl request_body_sent{
    "client",       "request_body_sent",
    Source::client, "the whole request (with the final chunk) was written",
    "body bytes",   ""};
inline constexpr EventDecl response_head{
    "client", "response_head", Source::client, "the response head was parsed", "status", ""};
inline constexpr EventDecl first_body_byte{
    "client", "first_body_byte", Source::client, "the first response body byte arrived", "", ""};
inline constexpr EventDecl read_paused{"client",       "read_paused",
                                       Source::client, "read.pause_ms (or read.until) took effect",
                                       "pause ms",     "its trigger"};
inline constexpr EventDecl read_resumed{
    "client", "read_resumed", Source::client, "the reading pause ended", "body bytes received", ""};
inline constexpr EventDecl read_throttled{"client",           "read_throttled",
                                          Source::client,     "read.bytes/every_ms took effect",
                                          "bytes per period", ""};
inline constexpr EventDecl aborted{"client",
                                   "aborted",
                                   Source::client,
                                   "abort closed (FIN) or reset (RST) the connection",
                                   "body bytes received",
                                   "close|reset at its trigger"};
std::vector<std::string> outcomes();
inline constexpr EventDecl response{"client",       "response_",
                                    Source::client, "the exchange ended with this outcome",
                                    "body bytes",   "what ended it, when not complete",
                                    "<outcome>",    &outcomes};
inline constexpr EventDecl protocol_deviation{
    "client",
    "protocol_deviation",
    Source::client,
    "the response broke a rule of RFC 9112 the client tolerates (it is still read)",
    "",
    "the rule and the offending line"};
inline constexpr EventDecl load_finished{
    "client",
    "load_finished",
    Source::client,
    "a load request's every response arrived and was judged (load:)",
    "responses not PASS",
    "the summary: counts by grade, latency p50/p99/max"};
inline constexpr EventDecl exchange_stopped{
    "client",       "exchange_stopped",
    Source::client, "the exchange was cancelled while pending (deadline)",
    "body bytes",   ""};

inline const events::EventList& all() {
  static const events::EventList list = {&request_started,
                                         &connected,
                                         &request_body_paced,
                                         &request_body_stalled,
                                         &request_body_resumed,
                                         &request_body_sent,
                                         &response_head,
                                         &first_body_byte,
                                         &read_paused,
                                         &read_resumed,
                                         &read_throttled,
                                         &aborted,
                                         &response,
                                         &exchange_stopped,
                                         &load_finished};
  return list;
}

}  // namespace fh::client::client_events
