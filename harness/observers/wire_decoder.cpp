#include "observers/wire_decoder.hpp"

#include "observers/completeness.hpp"
#include "observers/wire_events.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <string_view>

#include "codec/fcgi.hpp"

namespace fh::observers {

namespace {

struct Sides {
  const char* initiator;
  const char* acceptor;
};

// Where a direction's story ends: its FIN or RST, the peer's RST, or its last byte.
std::pair<std::size_t, std::int64_t> end_of(const Connection& c, int direction) {
  std::pair<std::size_t, std::int64_t> end{c.first_packet, c.opened_us};
  auto consider = [&](std::optional<std::size_t> packet, std::int64_t ts) {
    if (packet && *packet >= end.first) end = {*packet, ts};
  };
  const Direction& d = c.dir[direction];
  if (!d.chunks.empty()) consider(d.chunks.back().packet, d.chunks.back().ts_us);
  consider(d.fin_packet, d.fin_us);
  consider(d.rst_packet, d.rst_us);
  consider(c.dir[1 - direction].rst_packet, c.dir[1 - direction].rst_us);
  return end;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// A Content-Length value (RFC 9110 §8.6): digits only; nullopt when malformed or absurd.
std::optional<std::uint64_t> parse_length(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::uint64_t value = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  return value;
}

struct HttpHead {
  std::string first_line;
  std::map<std::string, std::string> headers;  // lower-case names, last one wins
  std::size_t end = 0;                         // offset just past the blank line
};

// An HTTP/1.1 message head starting at `pos` (RFC 9112 §2.1), or nullopt if incomplete.
std::optional<HttpHead> parse_head(std::string_view data, std::size_t pos) {
  const std::size_t blank = data.find("\r\n\r\n", pos);
  if (blank == std::string_view::npos) return std::nullopt;
  HttpHead head;
  head.end = blank + 4;
  std::string_view text = data.substr(pos, blank - pos);
  std::size_t line_end = text.find("\r\n");
  head.first_line = std::string(text.substr(0, line_end));
  while (line_end != std::string_view::npos) {
    text.remove_prefix(line_end + 2);
    line_end = text.find("\r\n");
    std::string_view line = text.substr(0, line_end);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    head.headers[lower(line.substr(0, colon))] = std::string(value);
  }
  return head;
}

struct BodyWalk {
  bool complete = false;
  std::size_t end = 0;           // offset past the body (or where the data ended)
  std::uint64_t body_bytes = 0;  // payload bytes (chunk data for chunked)
};

// RFC 9112 §7.1 chunked body from `pos`.
BodyWalk walk_chunked(std::string_view data, std::size_t pos) {
  BodyWalk walk;
  for (;;) {
    const std::size_t line_end = data.find("\r\n", pos);
    if (line_end == std::string_view::npos) break;
    std::uint64_t size = 0;
    std::size_t i = pos;
    for (; i < line_end && std::isxdigit(static_cast<unsigned char>(data[i])); ++i)
      size = size * 16 + static_cast<std::uint64_t>(
                             std::isdigit(static_cast<unsigned char>(data[i]))
                                 ? data[i] - '0'
                                 : std::tolower(static_cast<unsigned char>(data[i])) - 'a' + 10);
    if (i == pos) break;  // not a chunk size: malformed, treat as not complete
    if (size == 0) {      // last chunk, then trailer fields up to an empty line
      std::size_t at = line_end + 2;
      for (;;) {
        const std::size_t end = data.find("\r\n", at);
        if (end == std::string_view::npos) {
          walk.end = data.size();
          return walk;
        }
        if (end == at) {
          walk.complete = true;
          walk.end = end + 2;
          return walk;
        }
        at = end + 2;
      }
    }
    const std::size_t chunk_start = line_end + 2;
    if (data.size() < chunk_start + size) {
      walk.body_bytes += data.size() - chunk_start;
      walk.end = data.size();
      return walk;
    }
    walk.body_bytes += size;
    pos = chunk_start + size;
    if (data.size() < pos + 2) {
      walk.end = data.size();
      return walk;
    }
    pos += 2;  // CRLF after the chunk data
  }
  walk.end = data.size();
  return walk;
}

}  // namespace

void WireDecoder::add(std::int64_t ts_us, std::size_t packet, const events::EventDecl& decl,
                      std::uint32_t connection, std::uint16_t request_id, std::uint64_t value,
                      std::string detail) {
  events_.push_back(
      WireEvent{ts_us, packet, &decl, connection, request_id, value, std::move(detail)});
}

namespace {

/// The status a CGI response head asks for (RFC 3875 §6.3.3): its Status header, 302 with a
/// Location and no Status, else 200.
int cgi_status(const std::string& head) {
  bool location = false;
  std::size_t pos = 0;
  while (pos < head.size()) {
    auto eol = head.find('\n', pos);
    if (eol == std::string::npos) eol = head.size();
    const std::string line = lower(head.substr(pos, eol - pos));
    if (line.rfind("status:", 0) == 0) return std::atoi(line.c_str() + 7);
    if (line.rfind("location:", 0) == 0) location = true;
    pos = eol + 1;
  }
  return location ? 302 : 200;
}

}  // namespace

void WireDecoder::decode(const Reassembler& tcp) {
  records_.clear();
  events_.clear();
  stdout_body_bytes_ = 0;
  const auto& connections = tcp.connections();
  for (std::size_t i = 0; i < connections.size(); ++i) {
    const Connection& c = connections[i];
    const auto number = static_cast<std::uint32_t>(i + 1);
    Sides sides{"initiator", "acceptor"};
    const bool fastcgi = roles_.backend_port != 0 && c.acceptor.port == roles_.backend_port;
    const bool http = roles_.gateway_port != 0 && c.acceptor.port == roles_.gateway_port;
    if (fastcgi) sides = {"gateway", "backend"};
    if (http) sides = {"client", "gateway"};
    if (c.syn_seen)
      add(c.opened_us, c.first_packet, wire_events::connection_open, number, 0, 0,
          std::string(sides.initiator) + " " + c.initiator.to_string() + " -> " + sides.acceptor +
              " " + c.acceptor.to_string());
    if (fastcgi) decode_fastcgi(c, number);
    if (http) decode_http(c, number);
    for (int dir = 0; dir < 2; ++dir) {
      const Direction& d = c.dir[dir];
      const char* from = dir == 0 ? sides.initiator : sides.acceptor;
      if (d.fin_packet)
        add(d.fin_us, *d.fin_packet, wire_events::tcp_fin, number, 0, 0,
            std::string("from ") + from);
      if (d.rst_packet)
        add(d.rst_us, *d.rst_packet, wire_events::tcp_rst, number, 0, 0,
            std::string("from ") + from);
      if (d.has_hole())
        add(end_of(c, dir).second, end_of(c, dir).first, wire_events::tcp_hole, number, 0,
            d.pending.begin()->first - d.data.size(),
            std::string("from ") + from + ": bytes missing at offset " +
                std::to_string(d.data.size()));
    }
  }
  std::stable_sort(events_.begin(), events_.end(),
                   [](const WireEvent& a, const WireEvent& b) { return a.packet < b.packet; });
  // The completeness oracle's verdict per request, after what it is drawn from.
  for (auto& e : diagnose_completeness(events_, roles_.backend_port != 0))
    events_.push_back(std::move(e));
}

void WireDecoder::decode_fastcgi(const Connection& c, std::uint32_t number) {
  struct StdoutState {
    std::string head;  // up to the end of the CGI head
    bool head_done = false;
    std::uint64_t total = 0, body = 0;
    bool reported = false;
  };
  for (int dir = 0; dir < 2; ++dir) {
    const Direction& d = c.dir[dir];
    const char* from = dir == 0 ? "gateway" : "backend";
    fcgi::RecordDecoder decoder;
    std::vector<fcgi::Record> decoded;
    const auto error = decoder.feed(d.data, decoded);
    std::map<std::uint16_t, StdoutState> stdouts;
    auto report_stdout = [&](std::uint16_t id, StdoutState& s, std::int64_t ts,
                             std::size_t packet) {
      if (s.reported) return;
      s.reported = true;
      const std::uint64_t body = s.head_done ? s.body : 0;
      stdout_body_bytes_ += body;
      add(ts, packet, wire_events::stdout_bytes, number, id, body,
          "STDOUT " + std::to_string(s.total) + " bytes: head " +
              std::to_string(s.head_done ? s.total - s.body : s.total) + ", body " +
              std::to_string(body) +
              (s.head_done ? ", CGI status " + std::to_string(cgi_status(s.head))
                           : " (no complete CGI head)"));
    };
    std::map<std::uint16_t, std::string> params;  // request id -> PARAMS content so far
    std::optional<std::size_t> previous_last_packet;
    std::string previous_type;
    for (const auto& r : decoded) {
      const StreamChunk* first = d.chunk_at(r.offset);
      const StreamChunk* last = d.chunk_at(r.offset + r.wire_size() - 1);
      WireRecord w;
      w.connection = number;
      w.direction = dir;
      w.type = r.type;
      w.request_id = r.request_id;
      w.content_length = static_cast<std::uint16_t>(r.content.size());
      w.padding_length = r.padding_length;
      w.offset = r.offset;
      w.first_packet = first ? first->packet : 0;
      w.last_packet = last ? last->packet : 0;
      w.ts_us = last ? last->ts_us : 0;
      w.shares_segment_with_previous =
          previous_last_packet && first && *previous_last_packet == first->packet;
      records_.push_back(w);
      const std::string segment =
          "packet " + std::to_string(w.first_packet) +
          (w.shares_segment_with_previous
               ? ", same segment as previous record (" + previous_type + ")"
           : previous_last_packet ? ", new segment after previous record (" + previous_type + ")"
                                  : ", first record");
      const std::string detail = fcgi::type_name(r.type) + " id=" + std::to_string(r.request_id) +
                                 " len=" + std::to_string(r.content.size()) +
                                 " pad=" + std::to_string(r.padding_length) + " from " + from +
                                 ", " + segment;
      add(w.ts_us, w.last_packet, wire_events::fcgi_record, number, r.request_id, r.content.size(),
          detail);
      if (fcgi::is_stream_type(r.type) && r.content.empty() && r.request_id != 0)
        add(w.ts_us, w.last_packet, *wire_events::terminator_of(r.type), number, r.request_id, 0,
            detail);
      if (r.is(fcgi::RecordType::Params) && dir == 0 && r.request_id != 0) {
        if (!r.content.empty()) {
          params[r.request_id].append(r.content);
        } else {
          // The request as the backend got it (§3.4 name-value pairs), for people and for the
          // completeness oracle's pairing of FastCGI requests with HTTP requests.
          const auto pairs = fcgi::decode_name_values(params[r.request_id]);
          params.erase(r.request_id);
          if (pairs) {
            std::string method, uri;
            for (const auto& [name, value] : pairs.value()) {
              if (name == "REQUEST_METHOD") method = value;
              if (name == "REQUEST_URI") uri = value;
            }
            add(w.ts_us, w.last_packet, wire_events::params, number, r.request_id,
                pairs.value().size(),
                "REQUEST_METHOD=" + method + " REQUEST_URI=" + uri + " (" +
                    std::to_string(pairs.value().size()) + " params)");
          }
        }
      }
      if (r.is(fcgi::RecordType::BeginRequest)) {
        if (auto body = fcgi::decode_begin_request(r))
          add(w.ts_us, w.last_packet, wire_events::begin_request, number, r.request_id,
              body.value().role,
              "role " + std::to_string(body.value().role) + " keep_conn " +
                  std::to_string(body.value().keep_conn() ? 1 : 0));
      } else if (r.is(fcgi::RecordType::AbortRequest)) {
        add(w.ts_us, w.last_packet, wire_events::abort_request, number, r.request_id, 0,
            "from " + std::string(from));
      } else if (r.is(fcgi::RecordType::EndRequest)) {
        auto body = fcgi::decode_end_request(r);
        if (body) {
          add(w.ts_us, w.last_packet, wire_events::end_request, number, r.request_id,
              body.value().app_status,
              std::string(fcgi::protocol_status_name(body.value().protocol_status)) +
                  " app_status " + std::to_string(body.value().app_status));
        } else {
          add(w.ts_us, w.last_packet, wire_events::fcgi_error, number, r.request_id, r.offset,
              body.error().message);
        }
        auto it = stdouts.find(r.request_id);
        if (it != stdouts.end()) report_stdout(r.request_id, it->second, w.ts_us, w.last_packet);
        stdouts.erase(r.request_id);  // the id may be reused (§3.3)
      } else if (r.is(fcgi::RecordType::Stdout) && r.request_id != 0) {
        auto& s = stdouts[r.request_id];
        s.total += r.content.size();
        if (s.head_done) {
          s.body += r.content.size();
        } else {
          // The CGI response head ends at the first empty line (RFC 3875 §6.2).
          const std::size_t before = s.head.size();
          s.head.append(r.content);
          std::size_t end = std::string::npos;
          const std::size_t crlf = s.head.find("\r\n\r\n");
          const std::size_t lf = s.head.find("\n\n");
          if (crlf != std::string::npos) end = crlf + 4;
          if (lf != std::string::npos && (end == std::string::npos || lf + 2 < end)) end = lf + 2;
          if (end != std::string::npos) {
            s.head_done = true;
            s.body = s.head.size() - end;
            s.head.resize(end);
          } else if (s.head.size() > (1u << 20)) {
            s.head.resize(before);  // no head within 1 MiB: stop buffering
          }
        }
      }
      previous_last_packet = w.last_packet;
      previous_type = fcgi::type_name(r.type);
    }
    const auto end = end_of(c, dir);
    for (auto& [id, s] : stdouts) report_stdout(id, s, end.second, end.first);
    if (error) {
      const StreamChunk* at = d.chunk_at(error->offset);
      add(at ? at->ts_us : end.second, at ? at->packet : end.first, wire_events::fcgi_error, number,
          0, error->offset, "from " + std::string(from) + ": " + error->message);
    } else if (decoder.mid_record()) {
      add(end.second, end.first, wire_events::fcgi_truncated, number, 0, decoder.buffered(),
          "from " + std::string(from) + ": the stream ended " + std::to_string(decoder.buffered()) +
              " bytes into a record");
    }
  }
}

void WireDecoder::decode_http(const Connection& c, std::uint32_t number) {
  // Requests first: their methods decide whether a response has a body (HEAD).
  std::vector<std::string> methods;
  {
    const Direction& d = c.dir[0];
    std::size_t pos = 0;
    while (pos < d.data.size()) {
      auto head = parse_head(d.data, pos);
      if (!head) break;
      const StreamChunk* at = d.chunk_at(head->end - 1);
      add(at->ts_us, at->packet, wire_events::http_request_head, number, 0, 0, head->first_line);
      methods.push_back(head->first_line.substr(0, head->first_line.find(' ')));
      pos = head->end;
      if (lower(head->headers["transfer-encoding"]).find("chunked") != std::string::npos) {
        auto walk = walk_chunked(d.data, pos);
        if (!walk.complete) break;
        pos = walk.end;
      } else if (auto it = head->headers.find("content-length"); it != head->headers.end()) {
        auto length = parse_length(it->second);
        if (!length) break;  // cannot find the next request
        pos += *length;
      }
    }
  }
  const Direction& d = c.dir[1];
  const auto end = end_of(c, 1);
  const bool closed_cleanly = d.fin && !d.rst && !c.dir[0].rst && !d.has_hole();
  std::size_t pos = 0;
  std::size_t request = 0;
  auto truncated = [&](std::uint64_t body, std::string why) {
    add(end.second, end.first, wire_events::http_response_truncated, number, 0, body,
        why + (d.rst || c.dir[0].rst ? ", connection reset"
               : d.fin               ? ", connection closed"
                                     : ", capture ended"));
  };
  while (pos < d.data.size()) {
    auto head = parse_head(d.data, pos);
    if (!head) {
      truncated(0, "incomplete response head (" + std::to_string(d.data.size() - pos) + " bytes)");
      return;
    }
    const StreamChunk* head_at = d.chunk_at(head->end - 1);
    const std::string& line = head->first_line;
    const std::size_t sp = line.find(' ');
    const int status = sp == std::string::npos ? 0 : std::atoi(line.c_str() + sp + 1);
    pos = head->end;
    const bool chunked =
        lower(head->headers["transfer-encoding"]).find("chunked") != std::string::npos;
    auto length = head->headers.find("content-length");
    const std::string method = request < methods.size() ? methods[request] : "GET";
    const bool no_body =
        method == "HEAD" || status == 204 || status == 304 || (status >= 100 && status < 200);
    const std::string framing = no_body                         ? "no body"
                                : chunked                       ? "chunked"
                                : length != head->headers.end() ? "Content-Length " + length->second
                                                                : "until close";
    add(head_at->ts_us, head_at->packet, wire_events::http_response_head, number, 0,
        static_cast<std::uint64_t>(status), line + ", " + framing);
    if (status == 101) return;                    // another protocol follows
    if (status >= 100 && status < 200) continue;  // interim: the final response follows
    ++request;
    if (no_body) {
      add(head_at->ts_us, head_at->packet, wire_events::http_response_complete, number, 0, 0,
          framing);
    } else if (chunked) {
      auto walk = walk_chunked(d.data, pos);
      if (!walk.complete) {
        truncated(walk.body_bytes,
                  "chunked: " + std::to_string(walk.body_bytes) + " body bytes, no final chunk");
        return;
      }
      const StreamChunk* at = d.chunk_at(walk.end - 1);
      add(at->ts_us, at->packet, wire_events::http_response_complete, number, 0, walk.body_bytes,
          framing);
      pos = walk.end;
    } else if (length != head->headers.end()) {
      const auto parsed = parse_length(length->second);
      if (!parsed) {
        truncated(0, "unreadable Content-Length \"" + length->second + "\"");
        return;
      }
      const std::uint64_t want = *parsed;
      const std::uint64_t have = d.data.size() - pos;
      if (have < want) {
        truncated(have, framing + ": " + std::to_string(have) + " body bytes");
        return;
      }
      const StreamChunk* at = want == 0 ? head_at : d.chunk_at(pos + want - 1);
      add(at->ts_us, at->packet, wire_events::http_response_complete, number, 0, want, framing);
      pos += want;
    } else {
      const std::uint64_t have = d.data.size() - pos;
      if (closed_cleanly)
        add(end.second, end.first, wire_events::http_response_complete, number, 0, have, framing);
      else
        truncated(have, "until close: " + std::to_string(have) + " body bytes without a FIN");
      return;
    }
  }
}

const events::EventDecl* wire_events::terminator_of(std::uint8_t type) {
  switch (static_cast<fcgi::RecordType>(type)) {  // FastCGI 1.0 §3.3 stream types
    case fcgi::RecordType::Params:
      return &params_terminator;
    case fcgi::RecordType::Stdin:
      return &stdin_terminator;
    case fcgi::RecordType::Stdout:
      return &stdout_terminator;
    case fcgi::RecordType::Stderr:
      return &stderr_terminator;
    case fcgi::RecordType::Data:
      return &data_terminator;
    default:
      return nullptr;
  }
}

const events::EventList& wire_events::all() {
  static const events::EventList list = {&connection_open,
                                         &tcp_fin,
                                         &tcp_rst,
                                         &tcp_hole,
                                         &fcgi_record,
                                         &params_terminator,
                                         &stdin_terminator,
                                         &stdout_terminator,
                                         &stderr_terminator,
                                         &data_terminator,
                                         &begin_request,
                                         &params,
                                         &abort_request,
                                         &end_request,
                                         &stdout_bytes,
                                         &fcgi_error,
                                         &fcgi_truncated,
                                         &http_request_head,
                                         &http_response_head,
                                         &http_response_complete,
                                         &http_response_truncated,
                                         &completeness,
                                         &capture_stopped};
  return list;
}

void publish_capture_stats(events::Bus& bus, const CaptureStats& stats) {
  bus.publish(wire_events::capture_stopped, 0, 0,
              stats.dropped + stats.if_dropped + stats.truncated, stats.to_string());
}

void WireDecoder::publish_to(events::Bus& bus, events::Clock::time_point steady_origin,
                             std::chrono::system_clock::time_point system_origin) const {
  const std::int64_t origin_us =
      std::chrono::duration_cast<std::chrono::microseconds>(system_origin.time_since_epoch())
          .count();
  for (const auto& e : events_) {
    const auto at = steady_origin + std::chrono::microseconds(e.ts_us - origin_us);
    bus.publish(events::Event::of(*e.decl,
                                  std::chrono::time_point_cast<events::Clock::duration>(at),
                                  e.connection, e.request_id, e.value, e.detail));
  }
}

}  // namespace fh::observers
