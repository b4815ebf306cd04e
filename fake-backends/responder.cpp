// The probe app (harness/probe/): what the fake backend answers a request with, driven by its
// query string, and the end of every response (§5.5 END_REQUEST after the empty STDOUT,
// §6.2), as faults/response_end.cpp and faults/connection_policy.cpp decide.
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fake-backends/backend.hpp"
#include "fake-backends/backend_events.hpp"
#include "probe/probe_contract.hpp"

namespace fh::fake {

namespace {

// Size-mode pieces when no chunk is asked for: one full record each, so memory stays bounded.
constexpr std::size_t kDefaultPiece = fcgi::kMaxContentLength;

// The probe pattern is periodic (16 bytes), so any pattern range of up to one record is a
// view into this block: size=N bodies are streamed without building N-byte strings.
std::string_view pattern_view(std::uint64_t offset, std::size_t length) {
  static const std::string block =
      probe::pattern(0, fcgi::kMaxContentLength + probe::kPattern.size());
  return std::string_view(block).substr(offset % probe::kPattern.size(), length);
}

std::string_view stderr_view(std::uint64_t, std::size_t length) {
  static const std::string block(fcgi::kMaxContentLength, 'E');
  return std::string_view(block).substr(0, length);
}

ByteSource view_of(const std::string& text) {
  return
      [&text](std::uint64_t off, std::size_t n) { return std::string_view(text).substr(off, n); };
}

/// One request's answer, produced on its connection.
class Responder {
 public:
  Responder(Connection& c, Request& r) : c_(c), r_(r) {}

  // The probe-app response up to (not including) the STDOUT terminator. False when aborted
  // or the connection went away.
  asio::awaitable<bool> produce() {
    if (r_.aborted) co_return false;
    std::string_view query_string;
    for (const auto& [name, value] : r_.params) {
      if (name == "QUERY_STRING") {
        query_string = value;
        break;
      }
    }
    auto parsed = probe::parse_query(query_string);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      r_.keep_stdin = false;
      r_.stdin_data.clear();
      const std::string body = "bad query: " + *error + "\n";
      const std::string head = "Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n";
      const bool head_written = co_await write_head(head, 400, body.size());
      if (!head_written) co_return false;
      const ByteSource source = view_of(body);
      co_return co_await write_body(source, body.size(), body.size(), {});
    }
    const auto& q = std::get<probe::ProbeQuery>(parsed);
    r_.keep_stdin = q.echo;
    if (!q.echo) {
      r_.stdin_data.clear();
      r_.stdin_data.shrink_to_fit();
    }
    // size=N answers at once (the reader still consumes STDIN); echo and the listing need it.
    if (q.reads_body() && !co_await wait_stdin()) co_return false;
    if (q.first_byte_ms && !co_await sleep(std::chrono::milliseconds(q.first_byte_ms)))
      co_return false;
    if (q.stderr_bytes) {
      const ByteSource source = stderr_view;
      const bool written = co_await c_.writer.write_stream(fcgi::RecordType::Stderr, r_.id, source,
                                                           0, q.stderr_bytes, nullptr);
      if (!written) co_return false;
      // §3.3: a stream ends with its empty record.
      std::vector<OutRecord> end{c_.writer.make_record(fcgi::RecordType::Stderr, r_.id, "")};
      if (!co_await c_.writer.write_records(nullptr, std::move(end))) co_return false;
    }
    const std::chrono::milliseconds delay(q.delay_ms);
    if (q.size) {
      const std::string head = probe::response_head(q.status);
      const bool head_written = co_await write_head(head, q.status, *q.size);
      if (!head_written) co_return false;
      const ByteSource source = pattern_view;
      co_return co_await write_body(source, *q.size, q.chunk ? q.chunk : kDefaultPiece, delay);
    }
    std::string listing;
    if (!q.echo)
      listing = probe::params_listing(r_.params, r_.stdin_bytes, r_.stdin_hash.hex_digest());
    const std::string& body = q.echo ? r_.stdin_data : listing;
    const std::uint64_t total = body.size();
    const std::string head = probe::response_head(q.status);
    const bool head_written = co_await write_head(head, q.status, total);
    if (!head_written) co_return false;
    const ByteSource source = view_of(body);
    co_return co_await write_body(source, total,
                                  q.chunk ? q.chunk : std::max<std::uint64_t>(total, 1), delay);
  }

  // §5.5 END_REQUEST; after a complete response it follows the empty STDOUT (§6.2).
  asio::awaitable<void> end_request(bool complete) {
    const auto& end = c_.cfg().response_end;
    std::vector<OutRecord> out;
    if (complete && end.stdout_terminator)
      out.push_back(c_.writer.make_record(fcgi::RecordType::Stdout, r_.id, ""));
    if (complete && !end.stdout_terminator)
      c_.log(r_.id, response_end_events::stdout_terminator_withheld);
    const bool send_end = end.end_request && !r_.end_sent();
    const auto record = fcgi::make_end_request(r_.id, 0, fcgi::ProtocolStatus::RequestComplete);
    if (send_end && end.end_request_delay_ms && !out.empty()) {
      if (!co_await c_.writer.write_records(&r_, std::move(out))) co_return;
      out.clear();
      c_.log(r_.id, response_end_events::end_request_delayed,
             std::to_string(end.end_request_delay_ms) + " ms");
      co_await sleep(std::chrono::milliseconds(end.end_request_delay_ms));
      if (c_.closed()) co_return;
    }
    if (send_end) {
      out.push_back(c_.writer.make_record(fcgi::RecordType::EndRequest, r_.id, record.content));
      // Before the write, not after: the gateway may read it and send the next BEGIN_REQUEST
      // before this coroutine resumes, and that request must not meet a busy id.
      r_.end = EndRequest::final;
    }
    if (!out.empty() && !co_await c_.writer.write_records(&r_, std::move(out))) co_return;
    if (!send_end) {
      if (!r_.end_sent()) c_.log(r_.id, response_end_events::end_request_withheld);
      if (!r_.end_sent()) co_return;  // never finished: no close either
    } else {
      if (!r_.readiness) ++c_.st->completed;
      c_.log(r_.id, backend_events::end_request_sent,
             "protocol_status=REQUEST_COMPLETE app_status=0 body_bytes=" +
                 std::to_string(r_.body_written) + (complete ? "" : " aborted"));
      c_.offer(backend_events::end_request_sent, r_.triggers, r_.index, r_.id);
    }
    if (c_.closed()) co_return;
    const auto after = c_.cfg().policy.after_response(r_.keep_conn, r_.stdin_done);
    if (after.note) c_.log(r_.id, *after.note, after.why);
    using Then = ConnectionPolicy::AfterResponse::Then;
    if (after.then == Then::keep_open) co_return;
    if (after.then == Then::wait_for_late_stdin) {
      c_.late_stdin.insert(r_.id);  // the reader ignores the empty STDIN when it comes
      co_return;
    }
    c_.close_after_response(r_.keep_conn ? "keep_conn set, ignored" : "keep_conn clear",
                            r_.stdin_done);
  }

 private:
  // Sleeps `d` on the request's timer. False when aborted or the connection went away.
  asio::awaitable<bool> sleep(std::chrono::milliseconds d) {
    const auto deadline = Clock::now() + d;
    while (!c_.closed() && !r_.aborted && Clock::now() < deadline) {
      r_.wake.expires_at(deadline);
      co_await r_.wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return !c_.closed() && !r_.aborted;
  }

  asio::awaitable<bool> wait_stdin() {
    while (!c_.closed() && !r_.aborted && !r_.stdin_done && !c_.peer_eof) {
      r_.wake.expires_at(Clock::time_point::max());
      co_await r_.wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return !c_.closed() && !r_.aborted && r_.stdin_done;
  }

  // Named locals, not temporaries inside `co_await` conditions: g++ 12 miscompiles those
  // (an unreachable path, SIGILL).
  asio::awaitable<bool> write_head(std::string head, int status, std::uint64_t body_size) {
    const std::string framed = c_.cfg().response_end.head_for(head, body_size);
    const ByteSource source = view_of(framed);
    const bool written = co_await c_.writer.write_stream(fcgi::RecordType::Stdout, r_.id, source, 0,
                                                         framed.size(), nullptr);
    if (!written) co_return false;
    c_.log(r_.id, backend_events::headers_sent, "status=" + std::to_string(status));
    c_.offer(backend_events::headers_sent, r_.triggers, r_.index, r_.id);
    co_return !c_.closed() && !c_.shut();
  }

  // Writes body [0, total) in `piece`-byte writes, `delay` apart.
  asio::awaitable<bool> write_body(const ByteSource& source, std::uint64_t total,
                                   std::uint64_t piece, std::chrono::milliseconds delay) {
    c_.offer_body(r_);  // a threshold of 0 acts right after the head
    bool first = true;
    while (!c_.closed() && !c_.shut() && r_.body_written < total) {
      if (r_.aborted) co_return false;
      if (!first && delay.count() > 0 && !co_await sleep(delay)) co_return false;
      first = false;
      const std::uint64_t end = std::min(total, r_.body_written + piece);
      if (!co_await c_.writer.write_stream(fcgi::RecordType::Stdout, r_.id, source, r_.body_written,
                                           end, &r_))
        co_return false;
      r_.body_written = end;
    }
    co_return !c_.closed() && !c_.shut() && !r_.aborted;
  }

  Connection& c_;
  Request& r_;
};

}  // namespace

asio::awaitable<void> respond(std::shared_ptr<Connection> c, std::shared_ptr<Request> r) {
  try {
    Responder responder(*c, *r);
    const bool complete = co_await responder.produce();
    if (!c->closed() && !c->shut() && (complete || r->aborted)) {
      co_await responder.end_request(complete);
    } else if (c->shut()) {
      c->log(r->id, backend_events::response_abandoned, "our side was shut down");
    } else if (!c->closed()) {
      c->log(r->id, backend_events::request_dropped,
             "peer closed before the request's input was complete");
    }
  } catch (const std::exception& e) {
    c->st->internal_error("request " + std::to_string(r->id) + " responder", e.what());
    c->close_connection("exception", false);
  }
  c->finish(r);
}

// A reply the reader produced (management answers, rejections); spawned so the reader keeps
// consuming input while it waits for the write lock.
asio::awaitable<void> send_reply(std::shared_ptr<Connection> c, fcgi::Bytes bytes,
                                 bool close_after) {
  struct Done {
    Connection& c;
    ~Done() { --c.replies_in_flight; }
  } done{*c};
  try {
    if (co_await c->writer.write_bytes(bytes) && close_after && c->requests.empty())
      c->close_connection("keep_conn clear", false);
  } catch (const std::exception& e) {
    c->st->internal_error("connection " + std::to_string(c->number) + " reply", e.what());
    c->close_connection("exception", false);
  }
}

void Connection::reply(fcgi::Bytes bytes, bool close_after) {
  if (replies_in_flight >= kMaxRepliesInFlight) {
    log(0, backend_events::protocol_error,
        std::to_string(replies_in_flight) +
            " replies of the fake's own are waiting: the gateway keeps asking and never reads");
    close_connection("protocol_error", false);
    return;
  }
  ++replies_in_flight;
  spawn(ex, send_reply(shared_from_this(), std::move(bytes), close_after));
}

}  // namespace fh::fake
