// The backend's answer to the client: FastCGI records (§5.5, §6.2) in, the CGI head (RFC 3875
// §6.2-6.3) mapped to HTTP/1.1 (RFC 9112) and the body framed by Content-Length, chunks or
// the close. Before the head, a failing backend gets 502 (504 when silent); after it, the
// client sees the response cut. The relay modes family (stream_response_body,
// wait_for_backend_close), the backpressure family (backend_read) and the bug emulations
// change how.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/status.hpp>
#include <cstdio>

#include "fake-gateways/gateway.hpp"
#include "fake-gateways/gateway_events.hpp"

namespace fh::fake {

using boost::system::error_code;
namespace ev = gateway_events;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

std::string chunk_size_line(std::size_t size) {
  char line[24];
  std::snprintf(line, sizeof line, "%zx\r\n", size);
  return line;
}

}  // namespace

asio::awaitable<void> ResponseRelay::run() {
  try {
    const auto& config = x_.config();
    if (x_.traits().read_after_request_sent && x_.content_length().value_or(0) <= 64 * 1024) {
      // Apache writes the (small) request, empty STDIN included, before it reads.
      co_await x_.wait_until([this] { return !x_.writer().writing() || over(); });
    }
    const auto& plan = config.backend_read;
    if (plan.pause_ms) {
      Exchange::ClientWait wait(x_);  // our own backpressure is not backend silence
      x_.note(ev::backend_read_paused, "backend_read.pause_ms", plan.pause_ms);
      co_await x_.pause(std::chrono::milliseconds(plan.pause_ms));
      x_.note(ev::backend_read_resumed);
    }
    const std::size_t read_size =
        plan.bytes_per_read ? std::min(plan.bytes_per_read, sizeof read_buf_) : sizeof read_buf_;
    fcgi::RecordDecoder decoder;
    std::vector<fcgi::Record> records;
    bool first = true;
    for (;;) {
      if (!first && plan.every_ms) {
        Exchange::ClientWait wait(x_);
        co_await x_.pause(std::chrono::milliseconds(plan.every_ms));
      }
      first = false;
      if (!co_await client_caught_up()) {
        end();
        co_return;
      }
      auto [ec, n] = co_await x_.backend().socket.async_read_some(
          asio::buffer(read_buf_, read_size), kUseTuple);
      if (n > 0) {
        x_.touch();
        records.clear();
        auto error = decoder.feed(std::string_view(read_buf_, n), records);
        for (const auto& record : records) {
          if (!co_await on_record(record)) co_return;
        }
        if (error) {
          co_await fail("FastCGI protocol error: " + error->message);
          co_return;
        }
      }
      if (ec) {
        if (end_request_seen_ && !x_.stopped() && !x_.client_gone()) {
          // wait_for_backend_close: the close (or the timeout) ends the response.
          if (x_.timed_out()) {
            x_.note(ev::backend_close_timeout, "no close after END_REQUEST");
          } else {
            x_.note(ev::backend_closed, "after END_REQUEST");
          }
          co_await complete_response();
        } else if (x_.stopped() || x_.client_gone() || over()) {
          end();
        } else if (x_.timed_out()) {
          co_await fail_timeout();
        } else if (ec == asio::error::eof) {
          backend_failed_ = true;
          co_await fail(std::string("backend closed the connection") +
                        (decoder.mid_record() ? " mid-record" : "") + " before END_REQUEST");
        } else {
          backend_failed_ = true;
          x_.note(ev::backend_read_error, errno_name(ec), static_cast<std::uint64_t>(ec.value()));
          co_await fail("backend connection: " + ec.message());
        }
        co_return;
      }
    }
  } catch (const boost::system::system_error& e) {
    // Cancelled because a sibling of the exchange ended with an exception: that one reports.
    if (e.code() != asio::error::operation_aborted)
      x_.state().internal_error("response relay", e.what());
    end();
  } catch (const std::exception& e) {
    x_.state().internal_error("response relay", e.what());
    end();
  }
}

// stream_response_body 2: no backend read while the client is more than kMinimalBuffer
// behind. False when the client left.
asio::awaitable<bool> ResponseRelay::client_caught_up() {
  if (!x_.config().relay.minimal_buffering() || client_unsent() <= kMinimalBuffer)
    co_return !x_.client_gone();
  Exchange::ClientWait wait(x_);
  x_.note(ev::backend_read_paused, "client behind", client_unsent());
  for (const auto& bug : x_.config().bugs) {
    if (bug->resumes_reading()) continue;
    x_.note(ev::bug_emulated, bug->name());
    co_await x_.wait_until([this] { return x_.client_gone(); });
    co_return false;
  }
  co_await client_drained();
  if (x_.client_gone() || x_.stopped()) co_return false;
  x_.note(ev::backend_read_resumed, "client caught up");
  co_return true;
}

// False once the request is over (END_REQUEST, failure, client gone).
asio::awaitable<bool> ResponseRelay::on_record(const fcgi::Record& record) {
  if (record.request_id != x_.request_id() || end_request_seen_) {
    x_.note(ev::backend_record_ignored,
            fcgi::type_name(record.type) + " for request " + std::to_string(record.request_id));
    co_return true;
  }
  // if-chains, not switch: g++ 12 mishandles locals of case blocks in coroutines.
  if (record.is(fcgi::RecordType::Stdout)) {
    last_stdout_at_ = Clock::now();
    if (record.content.empty()) {  // §3.3 stream end; END_REQUEST follows
      if (!stdout_ended_) x_.note(ev::stdout_terminator_received);
      stdout_ended_ = true;
      co_return true;
    }
    co_return co_await on_stdout(record.content);
  }
  if (record.is(fcgi::RecordType::Stderr)) {
    if (!record.content.empty())
      x_.note(ev::stderr_received, std::to_string(record.content.size()));
    co_return true;
  }
  if (record.is(fcgi::RecordType::EndRequest)) {
    auto body = fcgi::decode_end_request(record);
    if (!body) {
      co_await fail("bad END_REQUEST: " + body.error().message);
      co_return false;
    }
    const fcgi::EndRequestBody end = body.value();
    end_request_seen_ = true;
    if (!stdout_ended_) x_.note(ev::stdout_unterminated);
    note_end_request_lag();
    x_.note(ev::end_request_received,
            "app_status=" + std::to_string(end.app_status) +
                " protocol_status=" + std::string(fcgi::protocol_status_name(end.protocol_status)),
            end.protocol_status);
    co_return co_await on_end_request(end);
  }
  x_.note(ev::backend_record_ignored, fcgi::type_name(record.type));
  co_return true;
}

// §5.5: END_REQUEST terminates the request; a gateway waits for it before the response (and
// a pooled connection) is complete, so a lag after the response's last STDOUT record is
// visible to the client. Measured from the last STDOUT record, the empty one or, for a
// backend that omits it, the last with data.
void ResponseRelay::note_end_request_lag() {
  if (!last_stdout_at_) return;
  const auto lag =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - *last_stdout_at_);
  if (lag >= kEndRequestLate)
    x_.note(ev::end_request_late, std::to_string(lag.count()) + " ms after the last STDOUT record",
            static_cast<std::uint64_t>(lag.count()));
}

asio::awaitable<bool> ResponseRelay::on_stdout(std::string_view data) {
  if (head_ != Head::none) co_return co_await relay_body(data, {});
  std::string rest;
  const auto parsed = head_parser_.feed(data, rest);
  if (parsed == cgi::ResponseHeadParser::Result::need_more) co_return true;
  if (parsed == cgi::ResponseHeadParser::Result::error) {
    co_await fail("bad CGI response head: " + head_parser_.error());
    co_return false;
  }
  co_return co_await relay_body(rest, response_head(head_parser_.head()));
}

// The HTTP head for the CGI head (RFC 3875 §6.3); decides the response body's framing.
std::string ResponseRelay::response_head(const cgi::ResponseHead& cgi_head) {
  const int status = cgi_head.status;
  const bool no_body = x_.head_only() || status / 100 == 1 || status == 204 || status == 304;
  if (no_body) {
    mode_ = BodyMode::none;
  } else if (cgi_head.content_length) {
    mode_ = BodyMode::content_length;
    remaining_ = *cgi_head.content_length;
  } else if (x_.http11()) {
    mode_ = BodyMode::chunked;
  } else {
    mode_ = BodyMode::until_close;  // HTTP/1.0 has no chunked coding
    x_.no_keep_alive();
  }
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " +
                     (cgi_head.reason.empty() ? reason_for(status) : cgi_head.reason) + "\r\n";
  for (const auto& [name, value] : cgi_head.headers) {
    // Hop-by-hop fields are the gateway's business, not the application's.
    if (iequals(name, "Transfer-Encoding") || iequals(name, "Connection")) continue;
    head += name + ": " + value + "\r\n";
  }
  if (mode_ == BodyMode::chunked) head += "Transfer-Encoding: chunked\r\n";
  if (!x_.keep_alive()) {
    head += "Connection: close\r\n";
  } else if (!x_.http11()) {
    head += "Connection: keep-alive\r\n";
  }
  head += "\r\n";
  head_status_ = status;
  return head;
}

// `prefix` followed by `data` in the response body's framing.
std::string ResponseRelay::frame_body(std::string_view data, std::string prefix) {
  std::string out = std::move(prefix);
  if (mode_ == BodyMode::content_length) {
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), remaining_));
    if (take < data.size())
      x_.note(ev::excess_body, std::to_string(data.size() - take) + " bytes beyond Content-Length");
    out.append(data.substr(0, take));
    remaining_ -= take;
  } else if (mode_ == BodyMode::chunked) {
    if (!data.empty()) {  // an empty chunk would be the last-chunk
      out += chunk_size_line(data.size());
      out.append(data);
      out += "\r\n";
    }
  } else if (mode_ == BodyMode::until_close) {
    out.append(data);
  }
  return out;
}

// Writes `prefix` (the response head, once) and the body bytes framed for the client: at once
// (default), queued for the writer (stream 1, 2) or held until the end (stream 0).
asio::awaitable<bool> ResponseRelay::relay_body(std::string_view data, std::string prefix) {
  const bool with_head = !prefix.empty();
  std::string out = frame_body(data, std::move(prefix));
  if (out.empty()) co_return true;
  const auto& mode = x_.config().relay;
  if (mode.buffers_all()) {
    held_ += out;
    if (with_head) head_ = Head::held;
    co_return true;
  }
  if (mode.streaming()) {
    if (x_.client_gone()) {
      end();
      co_return false;
    }
    client_out_ += out;
    x_.poke();
  } else if (!co_await x_.write_client(out)) {
    end();
    co_return false;
  }
  if (with_head) {
    head_ = Head::sent;
    x_.note(ev::response_head_sent, std::to_string(head_status_), head_status_);
  }
  co_return true;
}

// False when the request is over; true to keep relaying (waiting for the backend's close).
asio::awaitable<bool> ResponseRelay::on_end_request(fcgi::EndRequestBody end) {
  if (head_ == Head::none) {
    co_await fail("END_REQUEST (" + std::string(fcgi::protocol_status_name(end.protocol_status)) +
                  ") before a complete CGI response head");
    co_return false;
  }
  if (mode_ == BodyMode::content_length && remaining_ > 0) {
    // The client must see the Content-Length unsatisfied: end the connection.
    if (head_ == Head::held) co_await write_held();
    co_await truncate(std::to_string(remaining_) + " bytes short of Content-Length");
    co_return false;
  }
  if (x_.config().relay.wait_for_backend_close && !x_.config().keep_conn) {
    // nginx without keep-conn reads until the backend closes (seed 004).
    phase_ = Phase::awaiting_close;
    x_.note(ev::awaiting_backend_close);
    co_return true;
  }
  co_await complete_response();
  co_return false;
}

asio::awaitable<bool> ResponseRelay::write_held() {
  std::string out = std::move(held_);
  held_.clear();
  head_ = Head::none;
  if (!co_await x_.write_client(out)) co_return false;
  head_ = Head::sent;
  x_.note(ev::response_head_sent, std::to_string(head_status_), head_status_);
  co_return true;
}

asio::awaitable<void> ResponseRelay::complete_response() {
  if (mode_ == BodyMode::until_close) x_.no_keep_alive();  // the close ends the body
  const bool streaming = x_.config().relay.streaming();
  bool complete = true;
  if (head_ == Head::held) complete = co_await write_held();
  if (complete && mode_ == BodyMode::chunked) {
    if (streaming) {
      client_out_ += "0\r\n\r\n";  // last-chunk
      x_.poke();
    } else {
      complete = co_await x_.write_client("0\r\n\r\n");  // last-chunk
    }
  }
  if (streaming) {
    co_await client_drained();
    complete = complete && !x_.client_gone();
  }
  if (complete) x_.note(ev::response_complete);
  end();
}

// The client sees the response cut: what was queued, then FIN without the final chunk.
asio::awaitable<void> ResponseRelay::truncate(std::string why) {
  if (x_.config().relay.streaming()) co_await client_drained();
  x_.note(ev::client_truncated, why);
  x_.abandon();
}

asio::awaitable<void> ResponseRelay::fail(std::string why) {
  x_.note(ev::backend_error, why);
  if (head_ != Head::sent && !x_.client_gone()) {
    for (const auto& bug : x_.config().bugs) {
      if (auto answer = bug->on_backend_failure(x_.facts())) {
        co_await x_.answer_bug(*bug, *answer);
        co_return;
      }
    }
  }
  if (head_ != Head::sent && !x_.client_gone()) {
    co_await x_.answer_error(502, why);
  } else if (head_ == Head::sent) {
    co_await truncate(why);
    co_return;
  }
  x_.abandon();
}

asio::awaitable<void> ResponseRelay::fail_timeout() {
  const std::string why =
      "backend silent for " + std::to_string(x_.config().backend_timeout_ms) + " ms";
  if (head_ != Head::sent && !x_.client_gone()) {
    co_await x_.answer_error(504, why);
  } else if (head_ == Head::sent) {
    co_await truncate(why);
    co_return;
  }
  x_.abandon();
}

void ResponseRelay::end() {
  phase_ = Phase::over;
  x_.conn().watchdog.cancel();
  x_.poke();
  // A kept connection stays open for release_backend(); so does one whose late empty STDIN
  // is still to be written. Otherwise closing also stops a writer blocked on it.
  const bool keep =
      (x_.config().keep_conn && end_request_seen_ && !x_.abandoned()) ||
      (end_request_seen_ && x_.writer().writing() && x_.config().stdin_terminator.late());
  if (!keep) x_.close_backend();
}

asio::awaitable<void> ResponseRelay::client_writer() {
  if (!x_.config().relay.streaming()) co_return;
  for (;;) {
    co_await x_.wait_until([this] { return !client_out_.empty() || over() || x_.client_gone(); });
    if (client_out_.empty() || x_.client_gone() || x_.stopped()) co_return;
    std::string chunk = std::move(client_out_);
    client_out_.clear();
    in_flight_ = chunk.size();
    const bool ok = co_await x_.write_client(chunk);
    in_flight_ = 0;
    x_.poke();
    if (!ok) co_return;
  }
}

asio::awaitable<void> ResponseRelay::client_drained() {
  co_await x_.wait_until([this] { return client_unsent() == 0 || x_.client_gone(); });
}

}  // namespace fh::fake
