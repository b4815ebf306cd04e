// The completeness oracle: for each HTTP request on the client leg, what the backend sent for
// it on the FastCGI leg (END_REQUEST? how many STDOUT body bytes? which CGI status?) against
// what the gateway framed for the client (status, body bytes, framing complete or cut), named
// in one word so a check can ask for it: a truncated 200 after a complete backend response, a
// 502 after one, an incomplete response framed as complete (a silent truncation), ...
// FastCGI requests are paired with HTTP requests by REQUEST_METHOD and REQUEST_URI.
//
// Pure function of the wire's events (wire_decoder.hpp).
#pragma once

#include <vector>

#include "observers/wire_decoder.hpp"

namespace fh::observers {

/// One `completeness` event per HTTP request seen (connection = its client connection,
/// request_id = the FastCGI request id paired with it, value = HTTP body bytes), detail
/// "<kind>: <what happened>", kind one of (none is a substring of another, so a check's
/// detail_contains "<kind>:" names exactly one):
///   whole                 the backend's complete response, delivered whole
///   cut-after-complete    the backend's response was complete, the HTTP body cut (a
///                         truncated 200)
///   error-after-complete  a 5xx although the backend's response was complete (a 502 after a
///                         complete response)
///   status-changed        another HTTP status than the CGI Status, not a 5xx
///   bytes-differ          both framed complete, body byte counts differ
///   failure-answered      the backend's response was incomplete; a 5xx told so
///   visible-truncation    incomplete, and the HTTP body is visibly cut too
///   silent-truncation     incomplete, but framed complete (a 200 that looks whole)
///   no-backend-request    no FastCGI request on the wire for it
///   no-response           no HTTP response head
/// Nothing when the FastCGI leg was not captured (`backend_leg_captured` false: unix socket).
std::vector<WireEvent> diagnose_completeness(const std::vector<WireEvent>& events,
                                             bool backend_leg_captured);

}  // namespace fh::observers
