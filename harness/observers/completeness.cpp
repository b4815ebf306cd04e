#include "observers/completeness.hpp"

#include "observers/wire_events.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>

namespace fh::observers {

namespace {

/// What the backend sent for one FastCGI request.
struct BackendSide {
  std::uint32_t connection = 0;
  std::uint16_t request_id = 0;
  std::uint64_t role = 0;
  std::string method, uri;  // REQUEST_METHOD, REQUEST_URI from the PARAMS
  bool paired = false;
  bool ended = false;
  std::string protocol_status;  // "FCGI_REQUEST_COMPLETE", ...
  bool stdout_seen = false;
  bool head_complete = false;
  int cgi_status = 0;
  std::uint64_t body = 0;
  std::int64_t last_ts = 0;
  std::size_t last_packet = 0;

  bool complete() const {
    return ended && protocol_status == "FCGI_REQUEST_COMPLETE" && stdout_seen && head_complete;
  }
  std::string why_incomplete() const {
    if (!ended)
      return "no END_REQUEST" +
             (stdout_seen ? " after " + std::to_string(body) + " body bytes" : std::string());
    if (protocol_status != "FCGI_REQUEST_COMPLETE") return "END_REQUEST " + protocol_status;
    return "no complete CGI head";
  }
};

/// What the gateway framed for one HTTP request.
struct ClientSide {
  std::uint32_t connection = 0;
  std::string request_line;
  bool responded = false;
  int status = 0;
  enum class Framing { open, complete, truncated } framing = Framing::open;
  std::uint64_t body = 0;
  std::string truncation;
  std::int64_t last_ts = 0;
  std::size_t last_packet = 0;
};

void touch(std::int64_t& ts, std::size_t& packet, const WireEvent& e) {
  ts = std::max(ts, e.ts_us);
  packet = std::max(packet, e.packet);
}

/// "STDOUT 1082 bytes: head 58, body 1024, CGI status 200" -> 200.
int cgi_status_of(const std::string& detail) {
  const auto at = detail.find("CGI status ");
  return at == std::string::npos ? 0 : std::atoi(detail.c_str() + at + 11);
}

std::string judge(const ClientSide& http, const BackendSide* backend) {
  const std::string status = "HTTP " + std::to_string(http.status);
  const std::string bytes = std::to_string(http.body) + " body bytes";
  if (!http.responded) return "no-response: " + http.request_line + " got no HTTP response head";
  if (!backend)
    return "no-backend-request: " + status + " for " + http.request_line +
           " without a FastCGI request on the wire";
  const bool cut = http.framing != ClientSide::Framing::complete;
  const std::string cut_how = http.truncation.empty() ? "not framed to its end" : http.truncation;
  if (backend->complete()) {
    const std::string sent = "the backend's response was complete (CGI status " +
                             std::to_string(backend->cgi_status) + ", " +
                             std::to_string(backend->body) + " body bytes, FCGI_REQUEST_COMPLETE)";
    if (http.status >= 500 && http.status != backend->cgi_status)
      return "error-after-complete: a " + std::to_string(http.status) +
             " after a complete response: " + sent;
    if (cut)
      return "cut-after-complete: a truncated " + std::to_string(http.status) + ": " + sent +
             " but the HTTP body was cut (" + cut_how + ")";
    if (http.status != backend->cgi_status)
      return "status-changed: " + status + " although " + sent;
    const bool head_request = http.request_line.rfind("HEAD ", 0) == 0;
    if (!head_request && http.body != backend->body)
      return "bytes-differ: " + sent + "; the " + status + " body has " + bytes;
    return "whole: " + status + " with " + bytes + ", all the backend sent (FCGI_REQUEST_COMPLETE)";
  }
  const std::string sent =
      "the backend's response was incomplete (" + backend->why_incomplete() + ")";
  if (http.status >= 500) return "failure-answered: " + sent + "; " + status + " said so";
  if (cut)
    return "visible-truncation: " + sent + " and the " + status + " body is cut too (" + cut_how +
           ")";
  return "silent-truncation: " + sent + " but the " + status + " is framed complete with " + bytes;
}

}  // namespace

std::vector<WireEvent> diagnose_completeness(const std::vector<WireEvent>& events,
                                             bool backend_leg_captured) {
  std::vector<WireEvent> out;
  if (!backend_leg_captured) return out;
  std::vector<BackendSide> backends;
  std::map<std::pair<std::uint32_t, std::uint16_t>, std::size_t> by_id;  // latest per (conn, id)
  std::vector<ClientSide> clients;
  auto backend_of = [&](const WireEvent& e) -> BackendSide* {
    auto it = by_id.find({e.connection, e.request_id});
    return it == by_id.end() ? nullptr : &backends[it->second];
  };
  // The first request on the connection still waiting for this stage.
  auto client_where = [&](std::uint32_t connection, auto wanted) -> ClientSide* {
    for (auto& c : clients)
      if (c.connection == connection && wanted(c)) return &c;
    return nullptr;
  };
  for (const auto& e : events) {
    if (e.decl == &wire_events::begin_request) {
      by_id[{e.connection, e.request_id}] = backends.size();  // ids are reused (§3.3)
      BackendSide b;
      b.connection = e.connection;
      b.request_id = e.request_id;
      b.role = e.value;
      backends.push_back(b);
      touch(backends.back().last_ts, backends.back().last_packet, e);
    } else if (e.decl == &wire_events::params) {
      if (auto* b = backend_of(e)) {
        // "REQUEST_METHOD=GET REQUEST_URI=/probe?size=10 (17 params)"
        const auto uri_at = e.detail.find(" REQUEST_URI=");
        const auto end = e.detail.rfind(" (");
        if (uri_at != std::string::npos && end != std::string::npos && end >= uri_at + 13) {
          b->method = e.detail.substr(15, uri_at - 15);
          b->uri = e.detail.substr(uri_at + 13, end - uri_at - 13);
        }
      }
    } else if (e.decl == &wire_events::stdout_bytes) {
      // The first count is the request's (at END_REQUEST); STDOUT after END_REQUEST is not
      // part of it (FastCGI 1.0 §5.5) and gets a count of its own.
      if (auto* b = backend_of(e); b && !b->stdout_seen) {
        b->stdout_seen = true;
        b->body = e.value;
        b->head_complete = e.detail.find("no complete CGI head") == std::string::npos;
        b->cgi_status = cgi_status_of(e.detail);
        touch(b->last_ts, b->last_packet, e);
      }
    } else if (e.decl == &wire_events::end_request) {
      if (auto* b = backend_of(e)) {
        b->ended = true;
        b->protocol_status = e.detail.substr(0, e.detail.find(' '));
        touch(b->last_ts, b->last_packet, e);
      }
    } else if (e.decl == &wire_events::http_request_head) {
      ClientSide c;
      c.connection = e.connection;
      c.request_line = e.detail;
      clients.push_back(c);
      touch(clients.back().last_ts, clients.back().last_packet, e);
    } else if (e.decl == &wire_events::http_response_head) {
      if (auto* c = client_where(e.connection, [](const ClientSide& c) { return !c.responded; })) {
        c->responded = true;
        c->status = static_cast<int>(e.value);
        touch(c->last_ts, c->last_packet, e);
      }
    } else if (e.decl == &wire_events::http_response_complete ||
               e.decl == &wire_events::http_response_truncated) {
      if (auto* c = client_where(e.connection, [](const ClientSide& c) {
            return c.responded && c.framing == ClientSide::Framing::open;
          })) {
        c->framing = e.decl == &wire_events::http_response_complete
                         ? ClientSide::Framing::complete
                         : ClientSide::Framing::truncated;
        c->body = e.value;
        if (c->framing == ClientSide::Framing::truncated) c->truncation = e.detail;
        touch(c->last_ts, c->last_packet, e);
      }
    }
  }
  // Pairing: the first unpaired RESPONDER request with the HTTP request's method and target
  // as REQUEST_METHOD and REQUEST_URI; a gateway that sends no REQUEST_URI at all is paired
  // in order. Other roles and requests no client asked for (a gateway's probes) stay out.
  const bool uris = std::any_of(backends.begin(), backends.end(),
                                [](const BackendSide& b) { return !b.uri.empty(); });
  for (const auto& c : clients) {
    const auto space = c.request_line.find(' ');
    const std::string method = c.request_line.substr(0, space);
    const std::string target =
        space == std::string::npos
            ? std::string()
            : c.request_line.substr(space + 1, c.request_line.rfind(' ') - space - 1);
    BackendSide* b = nullptr;
    for (auto& candidate : backends) {
      if (candidate.paired || candidate.role != 1) continue;
      if (uris && (candidate.uri != target || candidate.method != method)) continue;
      b = &candidate;
      break;
    }
    if (b) b->paired = true;
    WireEvent e;
    e.ts_us = std::max(c.last_ts, b ? b->last_ts : 0);
    e.packet = std::max(c.last_packet, b ? b->last_packet : 0);
    e.decl = &wire_events::completeness;
    e.connection = c.connection;
    e.request_id = b ? b->request_id : 0;
    e.value = c.body;
    e.detail = judge(c, b);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace fh::observers
