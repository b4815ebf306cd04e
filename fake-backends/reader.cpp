// A connection's reader: records in (FastCGI 1.0 §3.3 framing by fcgi::RecordDecoder), each
// dispatched by type: management records answered (§4), requests begun (§5.1), their streams
// collected (§5.2, §5.3), aborts (§5.4). The responder (responder.cpp) answers.
#include <algorithm>
#include <set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fake-backends/backend.hpp"
#include "fake-backends/backend_events.hpp"

namespace fh::fake {

namespace {
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
}  // namespace

void Connection::ignore(std::uint16_t id, std::uint8_t type, std::string_view why) {
  if (!ignored.insert({id, type}).second) return;
  log(id, backend_events::ignored_record, fcgi::type_name(type) + " " + std::string(why));
}

void Connection::release_requests(std::string_view how) {
  for (const auto& [id, r] : requests)
    if (!r->end_sent() && !r->aborted) log(id, backend_events::request_released, std::string(how));
}

bool Connection::has_unfinished_request() const {
  return std::any_of(requests.begin(), requests.end(),
                     [](const auto& entry) { return entry.second->end != EndRequest::final; });
}

void Connection::check_params(const Request& r) {
  std::set<std::string_view> seen;
  for (const auto& [name, value] : r.params) {
    if (name.empty()) log(r.id, backend_events::param_name_empty, value.substr(0, 64));
    if (!seen.insert(name).second) log(r.id, backend_events::param_duplicated, name);
  }
}

// RFC 3875 §4.1.2: CONTENT_LENGTH is the body's length when there is a body, and the body is
// what comes as STDIN (FastCGI 1.0 §6.2). An empty or absent CONTENT_LENGTH means no body.
void Connection::check_content_length(const Request& r) {
  const std::string* declared = nullptr;
  for (const auto& [name, value] : r.params)
    if (name == "CONTENT_LENGTH") declared = &value;
  const std::string said = declared ? *declared : std::string();
  const bool matches = said.empty() ? r.stdin_bytes == 0 : said == std::to_string(r.stdin_bytes);
  if (matches) return;
  log(r.id, backend_events::content_length_mismatch,
      "CONTENT_LENGTH=" + (declared ? "'" + said + "'" : std::string("(absent)")) + ", STDIN " +
          std::to_string(r.stdin_bytes) + " bytes");
}

asio::awaitable<void> read_loop(std::shared_ptr<Connection> c) {
  try {
    if (!c->readiness) c->offer(backend_events::accepted, c->connection_triggers, c->number, 0);
    std::vector<char> buffer(64 * 1024);
    std::vector<fcgi::Record> records;
    while (co_await c->gate(false)) {
      auto [ec, n] = co_await c->socket.async_read_some(asio::buffer(buffer), kAwait);
      if (c->closed()) break;
      if (ec && c->phase == Connection::Phase::lingering) {
        c->close_connection(c->linger_reason, false);  // EOF (or error) ends the drain
        break;
      }
      if (ec == asio::error::eof) {
        c->log(0, backend_events::peer_closed);
        c->release_requests("peer_closed");
        c->peer_eof = true;
        // Requests still waiting for input can't complete; ones already answering go on
        // (their writes then meet EPIPE/ECONNRESET, which is what a scenario wants to see).
        for (auto it = c->requests.begin(); it != c->requests.end();) {
          if (!it->second->responding) {
            auto r = it->second;
            it = c->requests.erase(it);
            c->request_over(*r);
          } else {
            it->second->wake.cancel();
            ++it;
          }
        }
        if (c->requests.empty() || c->shut()) c->close_connection("peer_closed", false);
        break;
      }
      if (ec) {
        c->log(0, backend_events::read_error, ec.message());
        c->release_requests("read_error");
        c->close_connection("read_error", false);
        break;
      }
      records.clear();
      auto error = c->decoder.feed(std::string_view(buffer.data(), n), records);
      for (const auto& rec : records) {
        // A stall stops reading between records too.
        if (!co_await c->gate(false)) break;
        c->on_record(rec);
      }
      if (c->closed()) break;
      if (error) {
        c->log(0, backend_events::protocol_error, error->message);
        c->close_connection("protocol_error", false);
        break;
      }
    }
  } catch (const std::exception& e) {
    c->st->internal_error("connection " + std::to_string(c->number) + " reader", e.what());
    c->close_connection("exception", false);
  }
}

void Connection::on_management(const fcgi::Record& rec) {
  if (rec.is(fcgi::RecordType::GetValues)) {
    // §4.1: answer the variables we know, leave out the others.
    fcgi::NameValues answer;
    std::string asked;
    auto names = fcgi::decode_name_values(rec.content, rec.offset + fcgi::kHeaderLength);
    if (names) {
      for (const auto& [name, value] : names.value()) {
        asked += (asked.empty() ? "" : ",") + name;
        if (name == fcgi::kMaxConns) {
          answer.emplace_back(name, std::to_string(cfg().max_conns));
        } else if (name == fcgi::kMaxReqs) {
          answer.emplace_back(name, std::to_string(cfg().max_reqs));
        } else if (name == fcgi::kMpxsConns) {
          answer.emplace_back(name, cfg().policy.mpxs_conns ? "1" : "0");
        }
      }
    } else {
      asked = "malformed: " + names.error().message;
    }
    log(0, backend_events::get_values, asked);
    reply(fcgi::encode_record(fcgi::make_get_values_result(answer)).value(), false);
    return;
  }
  // §4.2: any other management record type gets UNKNOWN_TYPE.
  log(0, backend_events::unknown_type_sent, fcgi::type_name(rec.type));
  reply(fcgi::encode_record(fcgi::make_unknown_type(rec.type)).value(), false);
}

void Connection::on_begin_request(const fcgi::Record& rec) {
  auto body = fcgi::decode_begin_request(rec);
  if (!body) {
    log(rec.request_id, backend_events::protocol_error, body.error().message);
    close_connection("protocol_error", false);
    return;
  }
  const auto& b = body.value();
  if (auto it = requests.find(rec.request_id); it != requests.end()) {
    if (it->second->end != EndRequest::final) {
      log(rec.request_id, backend_events::ignored_record, "BEGIN_REQUEST for an active request id");
      return;
    }
    // Its END_REQUEST is out, so the id is free (§3.3: active from BEGIN_REQUEST until
    // END_REQUEST); a quick gateway's next request can arrive before that request's responder
    // resumes after the write. The responder finishes on its own (finish() erases only itself).
    requests.erase(it);
  }
  ignored.erase({rec.request_id, static_cast<std::uint8_t>(fcgi::RecordType::Params)});
  ignored.erase({rec.request_id, static_cast<std::uint8_t>(fcgi::RecordType::Stdin)});
  late_stdin.erase(rec.request_id);
  if (st->in_readiness) {
    // Readiness (a real gateway checking it is up): served, but not counted, published or
    // faulted; its index is 0, which no `request: N` names.
    auto r = std::make_shared<Request>(ex);
    r->id = rec.request_id;
    r->keep_conn = b.keep_conn();
    r->readiness = true;
    r->over = true;  // nothing for the lifetime to count
    r->triggers.resize(cfg().faults.size());
    for (auto& t : r->triggers) t.fire_now();  // spent: none of them acts on it
    requests.emplace(rec.request_id, std::move(r));
    return;
  }
  const std::uint32_t index = ++st->begun;
  indices[index] = rec.request_id;
  log(rec.request_id, backend_events::begin_request,
      "role=" + std::to_string(b.role) + " flags=" + std::to_string(b.flags) +
          " keep_conn=" + (b.keep_conn() ? "1" : "0") + " index=" + std::to_string(index));
  st->lifetime.on_begin_request(index);
  std::vector<language::TriggerState> triggers(cfg().faults.size());
  offer(backend_events::begin_request, triggers, index, rec.request_id);
  if (closed()) return;
  if (b.role != static_cast<std::uint16_t>(fcgi::Role::Responder)) {
    // §5.5 FCGI_UNKNOWN_ROLE.
    log(rec.request_id, backend_events::unknown_role, "role=" + std::to_string(b.role));
    reply(fcgi::encode_record(
              fcgi::make_end_request(rec.request_id, 0, fcgi::ProtocolStatus::UnknownRole))
              .value(),
          !b.keep_conn());
    st->request_over(index);
    return;
  }
  if (!cfg().policy.mpxs_conns && has_unfinished_request()) {
    // §5.5 FCGI_CANT_MPX_CONN: one request at a time on this connection.
    log(rec.request_id, backend_events::cant_mpx_conn);
    reply(fcgi::encode_record(
              fcgi::make_end_request(rec.request_id, 0, fcgi::ProtocolStatus::CantMpxConn))
              .value(),
          false);
    st->request_over(index);
    return;
  }
  auto r = std::make_shared<Request>(ex);
  r->id = rec.request_id;
  r->index = index;
  r->keep_conn = b.keep_conn();
  r->triggers = std::move(triggers);
  const auto id = r->id;
  requests.emplace(id, std::move(r));
}

void Connection::on_record(const fcgi::Record& rec) {
  if (phase == Phase::lingering) {
    // Only draining now: the stdin terminator means the request's input is all read.
    if (rec.is(fcgi::RecordType::Stdin) && rec.content.empty())
      close_connection(linger_reason, false);
    return;
  }
  if (rec.request_id == fcgi::kNullRequestId) {
    on_management(rec);
    return;
  }
  if (rec.is(fcgi::RecordType::BeginRequest)) {
    on_begin_request(rec);
    return;
  }
  auto it = requests.find(rec.request_id);
  if (it == requests.end()) {
    if (late_stdin.count(rec.request_id) && rec.is(fcgi::RecordType::Stdin)) {
      if (rec.content.empty()) {
        late_stdin.erase(rec.request_id);
        log(rec.request_id, policy_events::stdin_terminator_ignored,
            "arrived after END_REQUEST; connection left open although FCGI_KEEP_CONN is clear");
      }
      return;
    }
    ignore(rec.request_id, rec.type, "for an unknown request id");
    return;
  }
  auto r = it->second;
  // if-chain, as everywhere near coroutines here.
  if (rec.is(fcgi::RecordType::Params)) {
    if (r->params_done) {
      ignore(r->id, rec.type, "after the stream's end");
    } else if (!rec.content.empty()) {
      r->params_data += rec.content;
      if (r->params_data.size() > kMaxParamsBytes) {
        // A gateway that never ends PARAMS (scenarios/hostile/) must not grow us without bound.
        log(r->id, backend_events::protocol_error,
            "PARAMS exceeded " + std::to_string(kMaxParamsBytes) +
                " bytes without the empty record that ends them (the fake keeps no more)");
        close_connection("protocol_error", false);
        return;
      }
    } else {
      auto decoded = fcgi::decode_name_values(r->params_data);
      if (!decoded) {
        log(r->id, backend_events::protocol_error, decoded.error().message);
        close_connection("protocol_error", false);
        return;
      }
      r->params = std::move(decoded.value());
      r->params_data.clear();
      r->params_done = true;
      log(r->id, backend_events::params_complete, "count=" + std::to_string(r->params.size()));
      check_params(*r);
      offer(backend_events::params_complete, r->triggers, r->index, r->id);
      if (closed() || r->responding) return;
      r->responding = true;
      spawn(ex, respond(shared_from_this(), r));
    }
  } else if (rec.is(fcgi::RecordType::Stdin)) {
    if (r->stdin_done) {
      ignore(r->id, rec.type, "after the stream's end");
    } else if (!rec.content.empty()) {
      r->stdin_bytes += rec.content.size();
      r->stdin_hash.update(rec.content);
      if (r->keep_stdin) r->stdin_data += rec.content;
      offer_stdin(*r);
    } else {
      r->stdin_done = true;
      log(r->id, backend_events::stdin_terminator_received,
          "bytes=" + std::to_string(r->stdin_bytes));
      check_content_length(*r);
      offer(backend_events::stdin_terminator_received, r->triggers, r->index, r->id);
      r->wake.cancel();
    }
  } else if (rec.is(fcgi::RecordType::AbortRequest)) {
    // §5.4: the application answers an abort with END_REQUEST.
    log(r->id, backend_events::abort_request);
    if (!r->end_sent() && !r->aborted)
      log(r->id, backend_events::request_released, "abort_request");
    r->aborted = true;
    if (r->responding) {
      r->wake.cancel();
    } else {
      r->responding = true;
      spawn(ex, respond(shared_from_this(), r));
    }
  } else if (rec.is(fcgi::RecordType::Data)) {
    // FILTER input; a RESPONDER has no use for it (§6.2).
  } else {
    ignore(r->id, rec.type, "not sent to applications");
  }
}

}  // namespace fh::fake
