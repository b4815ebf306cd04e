#include "client/http_client.hpp"

#include <regex>

#include "client/client_events.hpp"
#include "client/status_line.hpp"
#include "events/harness_events.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/optional.hpp>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>

#include "util/sha256.hpp"

namespace fh::client {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::pending:
      return "pending";
    case Outcome::complete:
      return "complete";
    case Outcome::truncated:
      return "truncated";
    case Outcome::closed_before_response:
      return "closed_before_response";
    case Outcome::connect_failed:
      return "connect_failed";
    case Outcome::protocol_error:
      return "protocol_error";
    case Outcome::aborted:
      return "aborted";
  }
  return "unknown";
}

std::vector<std::string> client_events::outcomes() {
  std::vector<std::string> out;
  for (auto o : {Outcome::complete, Outcome::truncated, Outcome::closed_before_response,
                 Outcome::connect_failed, Outcome::protocol_error, Outcome::aborted})
    out.emplace_back(outcome_name(o));
  return out;
}

std::string_view framing_name(Framing framing) {
  switch (framing) {
    case Framing::none:
      return "none";
    case Framing::content_length:
      return "content_length";
    case Framing::chunked:
      return "chunked";
    case Framing::until_close:
      return "until_close";
  }
  return "unknown";
}

namespace {

std::string format_ms(double ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1fms", ms);
  return text;
}

}  // namespace

std::string Exchange::summary() const {
  std::string out = std::to_string(status);
  out += ' ';
  out += outcome_name(outcome);
  out += ' ';
  out += framing_name(framing);
  out += " body=" + std::to_string(body_bytes) + "B";
  if (!body_sha256.empty()) out += " sha=" + body_sha256.substr(0, 8) + "..";
  if (first_byte_ms) out += " ttfb=" + format_ms(*first_byte_ms);
  if (last_byte_ms) out += " last=" + format_ms(*last_byte_ms);
  if (connection_reset) out += " reset";
  if (outcome == Outcome::pending && !awaiting.empty()) out += " awaiting=\"" + awaiting + "\"";
  if (outcome != Outcome::complete && !error.empty()) out += " error=\"" + error + "\"";
  return out;
}

std::vector<std::vector<std::size_t>> connection_groups(const std::vector<std::string>& names) {
  std::vector<std::vector<std::size_t>> groups;
  std::map<std::string, std::size_t> by_name;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!names[i].empty()) {
      auto [it, added] = by_name.emplace(names[i], groups.size());
      if (!added) {
        groups[it->second].push_back(i);
        continue;
      }
    }
    groups.push_back({i});
  }
  return groups;
}

namespace {

constexpr std::size_t kBodyPrefixMax = 64 * 1024;
constexpr std::size_t kReadSize = 64 * 1024;
constexpr std::size_t kWriteSize = 64 * 1024;  // Content-Length bodies go out in these pieces
constexpr auto kNever = Clock::time_point::max();

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool has_header(const Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return true;
  return false;
}

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// A timer used as a wake-up: wait_until() returns true at the time or when woken, false when
// the waiting coroutine was cancelled from outside (the runner's deadline).
class Wakeup {
 public:
  explicit Wakeup(const asio::any_io_executor& executor) : timer_(executor) {}
  asio::awaitable<bool> wait_until(Clock::time_point at) {
    woken_ = false;
    timer_.expires_at(at);
    auto [ec] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return !ec || woken_;
  }
  void wake() {
    woken_ = true;
    timer_.cancel();
  }

 private:
  asio::steady_timer timer_;
  bool woken_ = false;
};

enum class ActionKind { read, abort, body_pace, body_stall };

// One request of the connection and what happened to it.
struct Item {
  Item(RequestSpec s, Exchange& progress, std::uint32_t n)
      : spec(std::move(s)), x(progress), number(n) {}
  RequestSpec spec;
  Exchange& x;
  std::uint32_t number;
  Clock::time_point start{};  // its request started to be written (the connect for the first)
  bool started = false;
  bool request_sent = false;
  bool head_done = false;
  bool status_line_seen = false;  // the current head's status line was checked
  bool settled = false;           // its terminal event was published and its digest taken
  util::Sha256 sha;
  // Slow reader (client.read), from its anchor on.
  Clock::time_point read_pause_until{};
  std::uint64_t read_bytes = 0;  // per period; 0: full speed
  std::uint32_t read_every_ms = 0;
  std::uint64_t read_left = 0;
  Clock::time_point read_next{};
  // Paced / stalled body (client.body_pace, client.body_stall).
  std::uint64_t pace_bytes = 0;
  std::uint32_t pace_every_ms = 0;
  std::uint64_t pace_left = 0;
  Clock::time_point pace_next{};
  Clock::time_point stall_until{};
};

// Where in a request's own exchange a trigger acts (or `bus`: an event on the run's bus).
enum class Point { connected, request_body_bytes, request_sent, response_head, body_bytes, bus };

Point point_of(const Trigger& t) {
  using language::Counter;
  if (t.is(Counter::request_body_bytes)) return Point::request_body_bytes;
  if (t.is(Counter::body_bytes)) return Point::body_bytes;
  if (t.is(client_events::connected)) return Point::connected;
  if (t.is(client_events::request_body_sent)) return Point::request_sent;
  if (t.is(client_events::response_head)) return Point::response_head;
  return Point::bus;
}

// An action of some item, waiting for its trigger.
struct Armed {
  ActionKind kind;
  std::size_t item;
  Trigger at;
  Point point = point_of(at);
  language::TriggerState state;
  int subscription = 0;
};

// One connection: a writer, a reader and the delayed actions run concurrently on one socket,
// since a server may answer (and close) before it has read the whole request body
// (RFC 9112 §9.5), and responses to pipelined requests arrive while later ones are written.
class Connection {
 public:
  Connection(net::Socket socket, net::Address gateway, std::vector<ConnectionRequest> requests,
             events::Bus* bus)
      : socket_(std::move(socket)),
        gateway_(std::move(gateway)),
        bus_(bus),
        read_wake_(socket_.get_executor()),
        write_wake_(socket_.get_executor()),
        action_wake_(socket_.get_executor()) {
    for (auto& r : requests)
      items_.push_back(std::make_unique<Item>(std::move(r.spec), *r.progress, r.number));
    for (std::size_t i = 0; i < items_.size(); ++i) {
      const auto& c = items_[i]->spec.client;
      if (c.read) arm(ActionKind::read, i, c.read->at);
      if (c.abort) arm(ActionKind::abort, i, c.abort->at);
      if (c.body_pace) arm(ActionKind::body_pace, i, c.body_pace->at);
      if (c.body_stall) arm(ActionKind::body_stall, i, c.body_stall->at);
      if (c.rcvbuf && !rcvbuf_) rcvbuf_ = c.rcvbuf;
      if (c.mss && !mss_) mss_ = c.mss;
    }
    // Bus triggers count from now: the connection's start.
    if (bus_)
      for (std::size_t a = 0; a < armed_.size(); ++a)
        if (armed_[a].point == Point::bus)
          armed_[a].subscription = bus_->subscribe(
              armed_[a].at.event, [this, a](const events::Event& e) { on_event(a, e); });
  }

  asio::awaitable<void> go() {
    for (auto& it : items_) it->x.awaiting = "connect";
    error_code ec;
    socket_.open(gateway_.endpoint().protocol(), ec);
    if (!ec && rcvbuf_)
      socket_.set_option(asio::socket_base::receive_buffer_size(static_cast<int>(*rcvbuf_)), ec);
    if (!ec && mss_ && gateway_.is_tcp())
      socket_.set_option(
          asio::detail::socket_option::integer<IPPROTO_TCP, TCP_MAXSEG>(static_cast<int>(*mss_)),
          ec);
    if (!ec) {
      auto [connect_ec] =
          co_await socket_.async_connect(gateway_.endpoint(), asio::as_tuple(asio::use_awaitable));
      ec = connect_ec;
    }
    if (ec) {
      for (auto& it : items_) {
        if (ec == asio::error::operation_aborted) {
          it->x.error = "cancelled";
        } else {
          it->x.outcome = Outcome::connect_failed;
          it->x.error = "connect " + gateway_.to_string() + ": " + ec.message();
        }
      }
      co_return;
    }
    net::set_no_delay(socket_);
    const auto connected = Clock::now();
    connected_at_ = connected;
    items_[0]->x.connect_ms = ms_between(start_, connected);
    items_[0]->start = connected;
    publish(*items_[0], client_events::connected);
    for (auto& it : items_) update_awaiting(*it);
    reach_all(Point::connected);
    using namespace asio::experimental::awaitable_operators;
    co_await (write_requests() && read_responses() && run_delayed_actions());
  }

  // Every exit path (also cancellation) ends here: the digests cover what was received.
  void finish() {
    for (auto& a : armed_)
      if (a.subscription && bus_) bus_->unsubscribe(a.subscription), a.subscription = 0;
    for (int id : until_subscriptions_)
      if (bus_) bus_->unsubscribe(id);
    until_subscriptions_.clear();
    for (auto& it : items_) settle(*it);
    close_socket();
  }

  void note_cancelled(const std::string& what) {
    for (auto& it : items_)
      if (it->x.outcome == Outcome::pending && it->x.error.empty()) it->x.error = what;
  }

  /// What ended a coroutine of the connection with an exception: a cancellation (the
  /// deadline, or a sibling of the `&&` that ended first) is noted on the pending exchanges;
  /// anything else is a harness defect, published as harness.internal_error (the run is
  /// ERROR with its message).
  void on_exception(const std::exception_ptr& e, const char* where) {
    std::string what = "unknown exception";
    bool cancelled = false;
    try {
      std::rethrow_exception(e);
    } catch (const boost::system::system_error& error) {
      cancelled = error.code() == asio::error::operation_aborted;
      what = error.what();
    } catch (const std::exception& error) {
      what = error.what();
    } catch (...) {
      // `what` says it: not a std::exception.
    }
    if (cancelled) {
      note_cancelled("cancelled");
      return;
    }
    note_cancelled(what);
    if (bus_)
      bus_->publish(events::harness_events::internal_error, items_.front()->number, 0, 0,
                    std::string("client ") + where + ": " + what);
  }

 private:
  double now_ms(const Item& it) const {
    return ms_between(it.started ? it.start : connected_at_, Clock::now());
  }

  void publish(const Item& it, const events::EventDecl& decl, std::uint64_t value = 0,
               std::string detail = {}, std::string_view part = {}) {
    if (bus_) bus_->publish_member(decl, part, it.number, 0, value, std::move(detail));
  }

  // The item's terminal event, once: response_<outcome>, or exchange_stopped while pending.
  void settle(Item& it) {
    if (it.settled) return;
    it.settled = true;
    it.x.body_sha256 = it.sha.hex_digest();
    if (it.x.outcome == Outcome::complete) it.x.awaiting.clear();
    if (it.x.outcome == Outcome::pending)
      publish(it, client_events::exchange_stopped, it.x.body_bytes, it.x.error);
    else
      publish(it, client_events::response, it.x.body_bytes, it.x.error, outcome_name(it.x.outcome));
  }

  void close_socket() {
    error_code ignored;
    socket_.shutdown(net::Socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  // ---- anchors and actions ----

  void arm(ActionKind kind, std::size_t item, const Trigger& at) {
    armed_.push_back(Armed{kind, item, at, point_of(at), {}, 0});
  }

  void on_event(std::size_t a, const events::Event& e) {
    auto& armed = armed_[a];
    if (closed_ || !armed.state.offer_event(armed.at, e)) return;
    if (bus_) bus_->unsubscribe(armed.subscription);
    armed.subscription = 0;
    fire(a);
  }

  // A point of item `i`'s exchange was reached (`value`: bytes so far, for byte triggers).
  void reach(std::size_t i, Point point, std::uint64_t value = 0) {
    for (std::size_t a = 0; a < armed_.size() && !closed_; ++a) {
      auto& armed = armed_[a];
      if (armed.state.fired() || armed.item != i || armed.point != point) continue;
      const bool counts = point == Point::request_body_bytes || point == Point::body_bytes;
      if (counts ? !armed.state.offer_counter(armed.at, armed.at.counter, value)
                 : !armed.state.fire_now())
        continue;
      fire(a);
    }
  }
  void reach_all(Point point) {
    for (std::size_t i = 0; i < items_.size(); ++i) reach(i, point);
  }

  // The smallest byte trigger at `point` still ahead of `value` for item `i`: the reader and
  // the writer stop exactly there, so "after 4096 body bytes" means 4096, not "the read that
  // crossed it".
  std::optional<std::uint64_t> next_byte_anchor(std::size_t i, Point point,
                                                std::uint64_t value) const {
    std::optional<std::uint64_t> next;
    for (const auto& a : armed_)
      if (!a.state.fired() && a.item == i && a.point == point && a.at.amount > value)
        if (!next || a.at.amount < *next) next = a.at.amount;
    return next;
  }

  void fire(std::size_t a) {
    if (armed_[a].at.delay_ms == 0) {
      apply(a);
      return;
    }
    delayed_.emplace_back(Clock::now() + std::chrono::milliseconds(armed_[a].at.delay_ms), a);
    action_wake_.wake();
  }

  void apply(std::size_t a) {
    if (closed_) return;
    const auto& armed = armed_[a];
    Item& it = *items_[armed.item];
    const auto& c = it.spec.client;
    const auto now = Clock::now();
    if (armed.kind == ActionKind::read) {
      if (c.read->pause_ms || c.read->until) {
        it.read_pause_until = c.read->pause_ms ? now + std::chrono::milliseconds(c.read->pause_ms)
                                               : Clock::time_point::max();
        publish(it, client_events::read_paused, c.read->pause_ms, armed.at.to_string("client"));
      }
      if (c.read->until && bus_) {
        // The awaited event may already have come since this request started: no pause then.
        for (const auto& e : bus_->log())
          if (c.read->until->matches(e) && e.at >= it.start) it.read_pause_until = now;
        Item* item = &it;
        until_subscriptions_.push_back(
            bus_->subscribe(*c.read->until, [this, item](const events::Event&) {
              if (item->read_pause_until == Clock::time_point{}) return;
              item->read_pause_until = Clock::now();  // read_gate publishes read_resumed
              read_wake_.wake();
            }));
      }
      if (c.read->bytes) {
        it.read_bytes = c.read->bytes;
        it.read_every_ms = c.read->every_ms;
        it.read_left = c.read->bytes;
        it.read_next =
            std::max(now, it.read_pause_until) + std::chrono::milliseconds(c.read->every_ms);
        publish(it, client_events::read_throttled, c.read->bytes,
                std::to_string(c.read->bytes) + " bytes every " + std::to_string(c.read->every_ms) +
                    " ms");
      }
      read_wake_.wake();
    } else if (it.request_sent &&
               (armed.kind == ActionKind::body_pace || armed.kind == ActionKind::body_stall)) {
      // The body is already out: nothing left to pace or stall.
    } else if (armed.kind == ActionKind::body_pace) {
      it.pace_bytes = c.body_pace->bytes;
      it.pace_every_ms = c.body_pace->every_ms;
      it.pace_left = c.body_pace->bytes;
      it.pace_next = now + std::chrono::milliseconds(c.body_pace->every_ms);
      publish(it, client_events::request_body_paced, c.body_pace->bytes,
              std::to_string(c.body_pace->bytes) + " bytes every " +
                  std::to_string(c.body_pace->every_ms) + " ms");
    } else if (armed.kind == ActionKind::body_stall) {
      it.stall_until = now + std::chrono::milliseconds(c.body_stall->stall_ms);
      publish(it, client_events::request_body_stalled, c.body_stall->stall_ms,
              armed.at.to_string("client"));
    } else {
      abort_connection(it, c.abort->how, armed.at);
    }
  }

  // client.abort: every exchange of the connection still pending ends as aborted.
  void abort_connection(Item& by, AbortFault::How how, const Trigger& trigger) {
    const auto at = trigger.to_string("client");
    const bool reset = how == AbortFault::How::reset;
    closed_ = true;
    for (auto& it : items_) {
      if (it->x.outcome != Outcome::pending) continue;
      it->x.outcome = Outcome::aborted;
      it->x.aborted_ms = now_ms(*it);
      it->x.last_byte_ms = it->x.aborted_ms;
      it->x.error = std::string("client ") + (reset ? "reset" : "closed") + " the connection at " +
                    at + (it.get() == &by ? "" : " (of another request)");
      if (!it->started) it->x.error += "; never sent";
    }
    publish(by, client_events::aborted, by.x.body_bytes,
            std::string(reset ? "reset" : "close") + " at " + at);
    error_code ignored;
    if (reset) {
      socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    } else {
      // Read what already arrived, so close() sends FIN rather than the RST Linux sends when
      // unread data is discarded (RFC 2525 §2.17).
      char sink[4096];
      for (std::size_t n = socket_.available(ignored); n > 0 && !ignored;
           n = socket_.available(ignored))
        socket_.read_some(asio::buffer(sink, std::min(n, sizeof sink)), ignored);
    }
    socket_.close(ignored);
    for (auto& it : items_) settle(*it);
    wake_all();
  }

  void wake_all() {
    read_wake_.wake();
    write_wake_.wake();
    action_wake_.wake();
  }

  asio::awaitable<void> run_delayed_actions() {
    try {
      while (!closed_ && !reader_done_) {
        auto due = kNever;
        for (const auto& [at, a] : delayed_) due = std::min(due, at);
        const bool ok = co_await action_wake_.wait_until(due);
        if (!ok) break;
        const auto now = Clock::now();
        for (std::size_t d = 0; d < delayed_.size() && !closed_;) {
          if (delayed_[d].first > now) {
            ++d;
            continue;
          }
          const auto a = delayed_[d].second;
          delayed_.erase(delayed_.begin() + static_cast<std::ptrdiff_t>(d));
          apply(a);
        }
      }
    } catch (...) {
      on_exception(std::current_exception(), "delayed actions");
    }
  }

  // ---- writing ----

  void update_awaiting(Item& it) {
    auto& x = it.x;
    if (x.outcome == Outcome::complete) x.awaiting.clear();
    if (x.outcome != Outcome::pending) return;
    std::string what;
    if (!it.started && &it != items_[0].get()) {
      what = "its turn on connection '" + it.spec.client.connection + "'";
    } else if (!it.head_done) {
      what = "response head";
      if (!it.request_sent)
        what += " (request body " + std::to_string(x.request_body_sent) + " of " +
                std::to_string(it.spec.body.size()) + " bytes sent)";
    } else if (x.framing == Framing::content_length) {
      what = "body: " + std::to_string(x.body_bytes) + " of " +
             std::to_string(x.content_length.value_or(0)) + " bytes";
    } else if (x.framing == Framing::chunked) {
      what = "final chunk after " + std::to_string(x.body_bytes) + " body bytes";
    } else {
      what = "end of connection";
    }
    x.awaiting = std::move(what);
  }

  std::string request_head(const Item& it, bool last, bool& chunked_framing) const {
    const auto& spec = it.spec;
    std::string head = spec.method + " " + spec.target + " HTTP/1.1\r\n";
    // A unix socket path is no valid Host (RFC 9110 §7.2); "localhost" stands in.
    head +=
        "Host: " + (gateway_.is_tcp() ? gateway_.to_string() : std::string("localhost")) + "\r\n";
    for (const auto& [name, value] : spec.headers) head += name + ": " + value + "\r\n";
    // Framing headers the spec already carries win: scenarios may send deliberately odd framing.
    const bool own_framing = !has_header(spec.headers, "Content-Length") &&
                             !has_header(spec.headers, "Transfer-Encoding");
    chunked_framing = own_framing && spec.chunked;
    if (own_framing) {
      if (spec.chunked)
        head += "Transfer-Encoding: chunked\r\n";
      else if (!spec.body.empty() || spec.send_body_headers_when_empty)
        head += "Content-Length: " + std::to_string(spec.body.size()) + "\r\n";
    }
    // Keep-alive is HTTP/1.1's default (RFC 9112 §9.3); only the last request closes.
    if (last) head += "Connection: close\r\n";
    head += "\r\n";
    return head;
  }

  asio::awaitable<void> write_all(std::string_view bytes, error_code& ec) {
    auto [write_ec, n] = co_await asio::async_write(
        socket_, asio::buffer(bytes.data(), bytes.size()), asio::as_tuple(asio::use_awaitable));
    ec = write_ec;
  }

  // Waits while the item's body is stalled or its pace budget is spent. False: cancelled.
  asio::awaitable<bool> write_gate(Item& it) {
    for (;;) {
      if (closed_ || reader_done_) co_return true;
      const auto now = Clock::now();
      if (now < it.stall_until) {
        const bool ok = co_await write_wake_.wait_until(it.stall_until);
        if (!ok) co_return false;
        if (Clock::now() >= it.stall_until)
          publish(it, client_events::request_body_resumed, it.x.request_body_sent);
        continue;
      }
      if (it.pace_bytes && it.pace_left == 0) {
        if (now < it.pace_next) {
          const bool ok = co_await write_wake_.wait_until(it.pace_next);
          if (!ok) co_return false;
          continue;
        }
        it.pace_left = it.pace_bytes;
        it.pace_next = now + std::chrono::milliseconds(it.pace_every_ms);
      }
      co_return true;
    }
  }

  // Waits until the previous response was read (or the connection is over). False: cancelled.
  asio::awaitable<bool> wait_turn(std::size_t i) {
    for (;;) {
      if (closed_ || reader_done_ || items_[i - 1]->x.outcome != Outcome::pending) co_return true;
      const bool ok = co_await write_wake_.wait_until(kNever);
      if (!ok) co_return false;
    }
  }

  asio::awaitable<void> write_requests() {
    try {
      for (std::size_t i = 0; i < items_.size(); ++i) {
        if (i > 0 && !items_[i]->spec.client.pipeline) {
          const bool ok = co_await wait_turn(i);
          if (!ok) break;
        }
        if (closed_ || reader_done_) break;
        const bool ok = co_await write_request(i);
        if (!ok) break;
      }
    } catch (...) {
      on_exception(std::current_exception(), "writer");
    }
    writer_done_ = true;
  }

  // False: the connection can take no more requests.
  asio::awaitable<bool> write_request(std::size_t i) {
    Item& it = *items_[i];
    if (!it.started) it.start = Clock::now();
    it.started = true;
    update_awaiting(it);
    error_code ec;
    bool chunked = false;
    const std::string head = request_head(it, i + 1 == items_.size(), chunked);
    co_await write_all(head, ec);
    std::string_view body = it.spec.body;
    if (!ec && !body.empty()) reach(i, Point::request_body_bytes, 0);
    const std::size_t piece_size =
        chunked ? std::max<std::size_t>(it.spec.chunk_size, 1) : kWriteSize;
    while (!ec && !body.empty()) {
      const bool ok = co_await write_gate(it);
      if (!ok) co_return false;
      if (closed_ || reader_done_) co_return false;
      std::size_t n = std::min(piece_size, body.size());
      if (it.pace_bytes) n = std::min<std::uint64_t>(n, it.pace_left);
      if (auto next = next_byte_anchor(i, Point::request_body_bytes, it.x.request_body_sent))
        n = std::min<std::uint64_t>(n, *next - it.x.request_body_sent);
      const auto piece = body.substr(0, n);
      if (chunked) {
        char size_line[24];
        std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
        std::string chunk = size_line;
        chunk.append(piece);
        chunk += "\r\n";
        co_await write_all(chunk, ec);
      } else {
        co_await write_all(piece, ec);
      }
      if (ec) break;
      body.remove_prefix(n);
      it.x.request_body_sent += n;
      if (it.pace_bytes) it.pace_left -= n;
      update_awaiting(it);
      reach(i, Point::request_body_bytes, it.x.request_body_sent);
    }
    if (!ec && chunked) co_await write_all("0\r\n\r\n", ec);
    if (ec) {
      // The reader decides the outcome: the server may well have answered already.
      if (ec == asio::error::connection_reset) it.x.connection_reset = true;
      if (ec != asio::error::operation_aborted && !reader_done_) write_error_ = ec;
      co_return false;
    }
    it.request_sent = true;
    update_awaiting(it);
    publish(it, client_events::request_body_sent, it.x.request_body_sent);
    reach(i, Point::request_sent);
    co_return !closed_;
  }

  // ---- reading ----

  void reset_parser(Item& it) {
    it.status_line_seen = false;
    parser_.emplace();
    parser_->body_limit(boost::none);  // multi-MiB responses are the point of some scenarios
    parser_->header_limit(kHeaderLimit);
    if (iequals(it.spec.method, "HEAD")) parser_->skip(true);  // RFC 9110 §9.3.2: no body
  }

  void on_head(std::size_t i) {
    Item& it = *items_[i];
    auto& p = *parser_;
    const auto& message = p.get();
    it.x.status = static_cast<int>(message.result_int());
    it.x.headers.clear();
    for (const auto& field : message)
      it.x.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    if (p.chunked()) {
      it.x.framing = Framing::chunked;
    } else if (p.content_length()) {
      it.x.framing = Framing::content_length;
      it.x.content_length = *p.content_length();
    } else if (p.need_eof()) {
      it.x.framing = Framing::until_close;
    } else {
      it.x.framing = Framing::none;  // HEAD, 204, 304: no body by definition
    }
    it.head_done = true;
    publish(it, client_events::response_head, static_cast<std::uint64_t>(it.x.status));
    reach(i, Point::response_head);
    if (!closed_) reach(i, Point::body_bytes, 0);
  }

  void on_body(std::size_t i, std::string_view bytes, double at_ms) {
    if (bytes.empty()) return;
    Item& it = *items_[i];
    auto& x = it.x;
    it.sha.update(bytes);
    if (x.body_prefix.size() < kBodyPrefixMax)
      x.body_prefix.append(bytes.substr(0, kBodyPrefixMax - x.body_prefix.size()));
    x.body_bytes += bytes.size();
    if (!x.first_body_byte_ms) {
      x.first_body_byte_ms = at_ms;
      publish(it, client_events::first_body_byte);
    }
    reach(i, Point::body_bytes, x.body_bytes);
  }

  enum class Fed { need_more, done, error, aborted };

  // The status line before the parser sees it (repair_status_line). False: the line is not
  // whole yet.
  bool check_status_line(Item& it) {
    const auto eol = inbuf_.find('\n');
    if (eol == std::string::npos) return inbuf_.size() >= kHeaderLimit;  // the parser decides
    it.status_line_seen = true;
    if (auto what = repair_status_line(inbuf_)) deviation(it, std::move(*what));
    return true;
  }

  void deviation(Item& it, std::string what) {
    publish(it, client_events::protocol_deviation, 0, what);
    it.x.deviations.push_back(std::move(what));
  }

  /// The current head's first line, for messages.
  std::string status_line_of(const std::string& bytes) const {
    const auto eol = bytes.find_first_of("\r\n");
    return bytes.substr(0,
                        std::min<std::size_t>(eol == std::string::npos ? bytes.size() : eol, 200));
  }

  // Feeds what was read to item i's parser, streaming body bytes through a fixed buffer.
  Fed feed(std::size_t i, double at_ms) {
    Item& it = *items_[i];
    for (;;) {
      if (closed_) return Fed::aborted;
      auto& p = *parser_;
      if (p.is_done()) return Fed::done;
      if (inbuf_.empty()) return Fed::need_more;
      if (!it.head_done && !it.status_line_seen) {
        if (!check_status_line(it)) return Fed::need_more;
        if (it.status_line_seen) first_line_ = status_line_of(inbuf_);
      }
      std::size_t room = sizeof body_buf_;
      if (auto next = next_byte_anchor(i, Point::body_bytes, it.x.body_bytes))
        room = std::min<std::uint64_t>(room, *next - it.x.body_bytes);
      p.get().body().data = body_buf_;
      p.get().body().size = room;
      error_code ec;
      const std::size_t used = p.put(asio::buffer(inbuf_), ec);
      const std::size_t got = room - p.get().body().size;
      inbuf_.erase(0, used);
      if (!it.head_done && p.is_header_done()) {
        const unsigned status = p.get().result_int();
        if (status / 100 == 1 && status != 101) {
          // RFC 9110 §15.2: interim responses precede the final one; skip them.
          reset_parser(it);
          continue;
        }
        on_head(i);
        if (closed_) return Fed::aborted;
      }
      on_body(i, std::string_view(body_buf_, got), at_ms);
      if (closed_) return Fed::aborted;
      if (ec == http::error::need_buffer) continue;
      if (ec == http::error::need_more && it.head_done && inbuf_.size() > kUnparsedLimit) {
        it.x.outcome = Outcome::protocol_error;
        it.x.error = "invalid HTTP response: " + std::to_string(inbuf_.size()) +
                     " bytes after the head that the parser cannot use (a chunk-size line or "
                     "trailers longer than " +
                     std::to_string(kUnparsedLimit) + " bytes)";
        return Fed::error;
      }
      if (ec == http::error::need_more) return Fed::need_more;
      if (ec) {
        it.x.outcome = Outcome::protocol_error;
        it.x.error = "invalid HTTP response: " + ec.message();
        if (!it.head_done) it.x.error += " (status line \"" + first_line_ + "\")";
        return Fed::error;
      }
      if (used == 0 && got == 0 && !p.is_done()) return Fed::need_more;
    }
  }

  void end_of_connection(Item& it, const error_code& ec) {
    auto& x = it.x;
    x.last_byte_ms = now_ms(it);
    const bool reset = ec == asio::error::connection_reset;
    if (reset) x.connection_reset = true;
    const std::string why = ec == asio::error::eof ? std::string("connection closed (EOF)")
                                                   : "connection ended: " + ec.message();
    if (!it.head_done) {
      x.outcome = Outcome::closed_before_response;
      x.error = why;
      if (write_error_) x.error += "; request write: " + write_error_.message();
      return;
    }
    if (!reset && x.framing == Framing::until_close) {
      error_code eof_ec;
      parser_->put_eof(eof_ec);
      if (!eof_ec) {
        x.outcome = Outcome::complete;
        return;
      }
    }
    x.outcome = Outcome::truncated;
    x.error = why;
  }

  // Waits while item i's reading is paused or its per-period budget is spent. False: cancelled.
  asio::awaitable<bool> read_gate(Item& it) {
    for (;;) {
      if (closed_) co_return true;
      const auto now = Clock::now();
      if (now < it.read_pause_until) {
        const bool ok = co_await read_wake_.wait_until(it.read_pause_until);
        if (!ok) co_return false;
        if (Clock::now() >= it.read_pause_until) {
          it.read_pause_until = {};
          publish(it, client_events::read_resumed, it.x.body_bytes);
        }
        continue;
      }
      if (it.read_bytes && it.read_left == 0) {
        if (now < it.read_next) {
          const bool ok = co_await read_wake_.wait_until(it.read_next);
          if (!ok) co_return false;
          continue;
        }
        it.read_left = it.read_bytes;
        it.read_next = now + std::chrono::milliseconds(it.read_every_ms);
      }
      co_return true;
    }
  }

  // Reads item i's response. True: it completed and the connection may carry the next one.
  asio::awaitable<bool> read_response(std::size_t i) {
    Item& it = *items_[i];
    reset_parser(it);
    bool fresh = !inbuf_.empty();  // pipelined bytes that followed the previous response
    for (;;) {
      if (fresh) {
        const double at = now_ms(it);
        const Fed fed = feed(i, at);
        if (fed == Fed::done) {
          it.x.outcome = Outcome::complete;
          it.x.last_byte_ms = at;
          settle(it);
          co_return parser_->keep_alive() && it.x.framing != Framing::until_close;
        }
        if (fed != Fed::need_more) {
          if (fed == Fed::error) it.x.last_byte_ms = at;
          co_return false;
        }
        update_awaiting(it);
      }
      const bool gate_ok = co_await read_gate(it);
      if (!gate_ok) {
        note_cancelled("cancelled");
        co_return false;
      }
      if (closed_) co_return false;
      char chunk[kReadSize];
      std::size_t size = sizeof chunk;
      if (it.read_bytes) size = std::min<std::uint64_t>(size, it.read_left);
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk, size),
                                                      asio::as_tuple(asio::use_awaitable));
      if (closed_) co_return false;
      fresh = n > 0;
      if (n > 0) {
        if (!it.x.first_byte_ms) it.x.first_byte_ms = now_ms(it);
        if (it.read_bytes) it.read_left -= std::min<std::uint64_t>(it.read_left, n);
        inbuf_.append(chunk, n);
        if (!ec) continue;
        // Data and an error together: judge the data first, then the error.
        const Fed fed = feed(i, now_ms(it));
        if (fed == Fed::done) {
          it.x.outcome = Outcome::complete;
          it.x.last_byte_ms = now_ms(it);
          settle(it);
          co_return false;
        }
        if (fed == Fed::error) it.x.last_byte_ms = now_ms(it);
        if (fed != Fed::need_more) co_return false;
      }
      if (ec) {
        if (ec == asio::error::operation_aborted) {
          note_cancelled("cancelled");
        } else {
          end_of_connection(it, ec);
          settle(it);
        }
        co_return false;
      }
    }
  }

  asio::awaitable<void> read_responses() {
    std::size_t i = 0;
    try {
      for (; i < items_.size(); ++i) {
        const bool more = co_await read_response(i);
        settle(*items_[i]);
        write_wake_.wake();  // the next request's turn
        if (!more) break;
      }
    } catch (...) {
      on_exception(std::current_exception(), "reader");
    }
    reader_done_ = true;
    // Requests after the last response read: the connection can no longer carry them.
    if (i < items_.size() && !closed_) {
      const Item& last = *items_[i];
      for (std::size_t j = i + 1; j < items_.size(); ++j) {
        auto& x = items_[j]->x;
        if (x.outcome != Outcome::pending || last.x.outcome == Outcome::pending) continue;
        x.outcome = Outcome::closed_before_response;
        x.error = std::string(items_[j]->started ? "" : "never sent: ") +
                  "the connection ended with request " + std::to_string(last.number) + " (" +
                  std::string(outcome_name(last.x.outcome)) + ")";
        settle(*items_[j]);
      }
    }
    for (auto& it : items_) update_awaiting(*it);
    wake_all();
    // Nothing more to read: a writer still blocked on a server that stopped reading ends too.
    if (!writer_done_) {
      error_code ignored;
      socket_.cancel(ignored);
    }
  }

  net::Socket socket_;
  net::Address gateway_;
  events::Bus* bus_;
  std::vector<std::unique_ptr<Item>> items_;
  std::vector<Armed> armed_;
  std::vector<std::pair<Clock::time_point, std::size_t>> delayed_;  // due, armed index
  std::optional<std::uint64_t> rcvbuf_;
  std::optional<std::uint32_t> mss_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point connected_at_ = start_;
  Wakeup read_wake_;
  std::vector<int> until_subscriptions_;  // client.read.until
  Wakeup write_wake_;
  Wakeup action_wake_;
  bool closed_ = false;  // client.abort closed the socket
  bool reader_done_ = false;
  bool writer_done_ = false;
  error_code write_error_;
  boost::optional<http::response_parser<http::buffer_body>> parser_;
  std::string first_line_;  // the current head's status line, as received
  std::string inbuf_;
  char body_buf_[kReadSize];
};

asio::awaitable<void> run_connection(net::Address gateway, std::vector<ConnectionRequest> requests,
                                     events::Bus* bus) {
  if (requests.empty()) co_return;
  std::unique_ptr<Connection> connection;
  try {
    auto executor = co_await asio::this_coro::executor;
    net::Socket socket(executor);
    connection = std::make_unique<Connection>(std::move(socket), std::move(gateway),
                                              std::move(requests), bus);
    co_await connection->go();
  } catch (...) {
    // Cancellation surfaces as an exception at the next co_await; anything else is reported
    // as a harness defect, never thrown into the io_context.
    if (connection) connection->on_exception(std::current_exception(), "connection");
  }
  if (connection) connection->finish();
}

}  // namespace

asio::awaitable<void> exchange(net::Address gateway, RequestSpec spec, Exchange& progress,
                               events::Bus* bus, std::uint32_t connection) {
  std::vector<ConnectionRequest> one;
  one.push_back(ConnectionRequest{std::move(spec), &progress, connection});
  co_await run_connection(std::move(gateway), std::move(one), bus);
}

asio::awaitable<void> exchange_connection(net::Address gateway,
                                          std::vector<ConnectionRequest> requests,
                                          events::Bus* bus) {
  co_await run_connection(std::move(gateway), std::move(requests), bus);
}

}  // namespace fh::client
