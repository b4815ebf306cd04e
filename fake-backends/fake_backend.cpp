// The embedded fake FastCGI backend (see fake_backend.hpp). Section numbers refer to the
// FastCGI Specification 1.0.
//
// Shape: one accept coroutine; per connection one reader coroutine and one responder
// coroutine per served request. Writes go through an awaitable FIFO lock so records never
// interleave mid-record and a responder knows exactly how many body bytes are written
// (which the body_bytes fault needs). Every coroutine holds shared_ptrs to what it touches,
// and every wait is on a timer or socket that stop()/close cancels.
#include "fake-backends/fake_backend.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "codec/fcgi.hpp"
#include "probe/probe_contract.hpp"
#include "util/sha256.hpp"

namespace fh::fake {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// Size-mode pieces when no chunk is asked for: one full record each, so memory stays bounded.
constexpr std::size_t kDefaultPiece = fcgi::kMaxContentLength;
// How long a lingering close drains unread input before it closes anyway.
constexpr auto kLingerTime = std::chrono::seconds(2);

std::string_view event_name(BackendEvent event) {
  switch (event) {
    case BackendEvent::accepted:
      return "accepted";
    case BackendEvent::begin_request:
      return "begin_request";
    case BackendEvent::params_received:
      return "params_received";
    case BackendEvent::stdin_received:
      return "stdin_received";
    case BackendEvent::headers_sent:
      return "headers_sent";
    case BackendEvent::body_bytes:
      return "body_bytes";
    case BackendEvent::end_request_sent:
      return "end_request_sent";
  }
  return "?";
}

std::string_view action_name(BackendAction action) {
  switch (action) {
    case BackendAction::close:
      return "close";
    case BackendAction::reset:
      return "reset";
    case BackendAction::stall:
      return "stall";
  }
  return "?";
}

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

template <class F>
void spawn(const asio::any_io_executor& ex, F&& coroutine) {
  // Every coroutine catches its own exceptions; this handler only keeps run() clean.
  asio::co_spawn(ex, std::forward<F>(coroutine), [](std::exception_ptr) {});
}

struct Connection;

// The backend's shared state. FakeBackend::State (private in the header) derives from it so
// the internals here can name it.
struct BackendState {
  BackendState(asio::io_context& io_context, BackendConfig cfg)
      : io(io_context), config(std::move(cfg)), accept_backoff(io_context) {}

  asio::io_context& io;
  BackendConfig config;
  std::optional<net::Acceptor> acceptor;
  net::Address bound;
  asio::steady_timer accept_backoff;
  bool started = false;
  bool stopped = false;
  std::uint32_t connections_accepted = 0;
  std::uint32_t begun = 0;
  std::uint32_t completed = 0;
  std::map<std::uint32_t, std::weak_ptr<Connection>> connections;
  std::vector<BackendLogEntry> entries;

  void log(std::uint32_t connection, std::uint16_t request_id, std::string what,
           std::string detail = {}) {
    const auto now = Clock::now();
    if (config.bus)
      config.bus->publish(events::Event{now, "backend", what, connection, request_id, 0, detail});
    entries.push_back(
        BackendLogEntry{now, connection, request_id, std::move(what), std::move(detail)});
  }
};

using State = BackendState;

struct Request {
  explicit Request(const asio::any_io_executor& ex) : wake(ex) {}
  std::uint16_t id = 0;
  std::uint32_t index = 0;  // 1-based arrival order across connections
  bool keep_conn = false;
  fcgi::Bytes params_data;
  bool params_done = false;
  fcgi::NameValues params;
  bool stdin_done = false;
  std::uint64_t stdin_bytes = 0;
  util::Sha256 stdin_hash;
  std::string stdin_data;   // kept only while echo is possible
  bool keep_stdin = true;   // until the query is known
  bool responding = false;  // the responder coroutine was spawned
  bool aborted = false;
  std::uint64_t body_written = 0;
  std::vector<bool> fired;  // per config fault
  asio::steady_timer wake;  // the responder's sleeps; cancelled to wake it early
};

struct LockWaiter {
  explicit LockWaiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool granted = false;
};

struct Connection : std::enable_shared_from_this<Connection> {
  Connection(std::shared_ptr<State> state, net::Socket sock, std::uint32_t n)
      : st(std::move(state)),
        socket(std::move(sock)),
        ex(socket.get_executor()),
        number(n),
        stall_timer(ex),
        accepted_fired(st->config.faults.size(), false) {}

  std::shared_ptr<State> st;
  net::Socket socket;
  asio::any_io_executor ex;
  std::uint32_t number;
  bool closed = false;
  bool peer_eof = false;
  fcgi::RecordDecoder decoder;
  std::map<std::uint16_t, std::shared_ptr<Request>> requests;
  std::set<std::pair<std::uint16_t, std::uint8_t>> ignored;  // logged once each
  // Write lock: one async_write at a time on the socket, FIFO.
  bool writing = false;
  std::deque<std::shared_ptr<LockWaiter>> waiters;
  // Stall: reading and writing wait until stall_until (time_point::max(): until stopped).
  Clock::time_point stall_until{};
  asio::steady_timer stall_timer;
  std::set<std::shared_ptr<asio::steady_timer>> fault_timers;  // delayed faults
  std::vector<bool> accepted_fired;
  // Lingering close: the response is out and our side is shut down, but unread input is
  // drained first, because closing with unread input sends an RST that can destroy the
  // response still in flight (the uWSGI truncation in shared/seeds).
  bool lingering = false;
  std::string linger_reason;
  std::shared_ptr<asio::steady_timer> linger_timer;

  void log(std::uint16_t id, std::string what, std::string detail = {}) {
    st->log(number, id, std::move(what), std::move(detail));
  }

  void close(std::string_view why, bool reset = false) {
    if (closed) return;
    closed = true;
    error_code ignored_ec;
    if (reset) {
      // SO_LINGER {1, 0}: close() sends RST instead of FIN.
      socket.set_option(asio::socket_base::linger(true, 0), ignored_ec);
    } else {
      socket.shutdown(net::Socket::shutdown_both, ignored_ec);
    }
    socket.close(ignored_ec);
    if (linger_timer) linger_timer->cancel();
    stall_timer.cancel();
    for (auto& t : fault_timers) t->cancel();
    for (auto& w : waiters) w->timer.cancel();
    waiters.clear();
    for (auto& [id, r] : requests) r->wake.cancel();
    log(0, "connection_closed", std::string(why));
    st->connections.erase(number);
  }

  // ---------------------------------------------------------------- writing

  asio::awaitable<bool> lock_writer() {
    if (closed) co_return false;
    if (!writing) {
      writing = true;
      co_return true;
    }
    auto w = std::make_shared<LockWaiter>(ex);
    w->timer.expires_at(Clock::time_point::max());
    waiters.push_back(w);
    co_await w->timer.async_wait(kAwait);  // woken by unlock (granted) or close
    if (!w->granted) co_return false;
    if (closed) {
      unlock();
      co_return false;
    }
    co_return true;
  }

  void unlock() {
    if (!waiters.empty()) {
      auto w = waiters.front();
      waiters.pop_front();
      w->granted = true;  // ownership passes on; `writing` stays set
      w->timer.cancel();
      return;
    }
    writing = false;
  }

  struct Unlocker {
    Connection* c;
    ~Unlocker() { c->unlock(); }
  };

  // Waits out a stall. False once the connection is closed.
  asio::awaitable<bool> gate() {
    while (!closed && Clock::now() < stall_until) co_await stall_timer.async_wait(kAwait);
    co_return !closed;
  }

  // One async_write of `buffers`, serialised with every other write on this connection.
  // The caller keeps the buffers alive (it is suspended in this call).
  asio::awaitable<bool> write(std::vector<asio::const_buffer> buffers) {
    if (!co_await lock_writer()) co_return false;
    Unlocker unlocker{this};
    if (!co_await gate()) co_return false;
    auto [ec, n] = co_await asio::async_write(socket, buffers, kAwait);
    if (ec) {
      if (!closed) {
        log(0, "write_error", ec.message());
        close("write_error");
      }
      co_return false;
    }
    co_return !closed;
  }

  asio::awaitable<bool> write_bytes(const fcgi::Bytes& bytes) {
    std::vector<asio::const_buffer> buffers;
    buffers.push_back(asio::buffer(bytes));
    co_return co_await write(std::move(buffers));
  }

  // Stream bytes [from, to) of `source` as records of at most 65535 bytes (§3.3), in one write.
  asio::awaitable<bool> write_stream(
      fcgi::RecordType type, std::uint16_t id,
      const std::function<std::string_view(std::uint64_t, std::size_t)>& source, std::uint64_t from,
      std::uint64_t to) {
    const std::uint64_t length = to - from;
    const std::size_t records = (length + fcgi::kMaxContentLength - 1) / fcgi::kMaxContentLength;
    std::vector<std::array<std::uint8_t, fcgi::kHeaderLength>> headers(records);
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(2 * records);
    std::uint64_t at = from;
    for (std::size_t i = 0; i < records; ++i) {
      const auto n =
          static_cast<std::size_t>(std::min<std::uint64_t>(to - at, fcgi::kMaxContentLength));
      fcgi::Header h;
      h.type = static_cast<std::uint8_t>(type);
      h.request_id = id;
      h.content_length = static_cast<std::uint16_t>(n);
      fcgi::encode_header(h, headers[i].data());
      buffers.push_back(asio::buffer(headers[i]));
      auto view = source(at, n);
      buffers.push_back(asio::buffer(view.data(), view.size()));
      at += n;
    }
    co_return co_await write(std::move(buffers));
  }

  // ---------------------------------------------------------------- faults

  bool matches(const BackendFault& f, BackendEvent event, std::uint32_t index) const {
    return f.at == event && (!f.request_index || *f.request_index == index);
  }

  void act(const BackendFault& f, BackendEvent event, std::uint16_t id) {
    if (closed) return;
    std::string detail = "at=" + std::string(event_name(event));
    if (event == BackendEvent::body_bytes) detail += " bytes=" + std::to_string(f.bytes);
    if (f.delay_ms) detail += " delay_ms=" + std::to_string(f.delay_ms);
    if (f.action == BackendAction::stall) detail += " stall_ms=" + std::to_string(f.stall_ms);
    log(id, "fault:" + std::string(action_name(f.action)), detail);
    switch (f.action) {
      case BackendAction::close:
        close("fault:close");
        break;
      case BackendAction::reset:
        close("fault:reset", true);
        break;
      case BackendAction::stall:
        // A timer, so stop() (close) cancels it; gate() callers re-check after every wake.
        stall_until = f.stall_ms ? Clock::now() + std::chrono::milliseconds(f.stall_ms)
                                 : Clock::time_point::max();
        stall_timer.expires_at(stall_until);
        break;
    }
  }

  void trigger(const BackendFault& f, BackendEvent event, std::uint16_t id);

  // Fires every not-yet-fired fault for `event` on the request with arrival index `index`.
  void fire(BackendEvent event, std::uint32_t index, std::vector<bool>& fired, std::uint16_t id) {
    const auto& faults = st->config.faults;
    for (std::size_t i = 0; i < faults.size() && !closed; ++i) {
      if (fired[i] || !matches(faults[i], event, index)) continue;
      fired[i] = true;
      trigger(faults[i], event, id);
    }
  }

  // body_bytes faults whose threshold `written` has reached.
  void fire_body(Request& r) {
    const auto& faults = st->config.faults;
    for (std::size_t i = 0; i < faults.size() && !closed; ++i) {
      if (r.fired[i] || !matches(faults[i], BackendEvent::body_bytes, r.index)) continue;
      if (faults[i].bytes > r.body_written) continue;
      r.fired[i] = true;
      trigger(faults[i], BackendEvent::body_bytes, r.id);
    }
  }

  // The next unfired body_bytes threshold in (written, limit), so a write can stop there.
  std::uint64_t body_split(const Request& r, std::uint64_t limit) const {
    const auto& faults = st->config.faults;
    for (std::size_t i = 0; i < faults.size(); ++i) {
      if (r.fired[i] || !matches(faults[i], BackendEvent::body_bytes, r.index)) continue;
      if (faults[i].bytes > r.body_written && faults[i].bytes < limit) limit = faults[i].bytes;
    }
    return limit;
  }

  // ---------------------------------------------------------------- requests

  // Sleeps `d` on the request's timer. False when aborted or the connection went away.
  asio::awaitable<bool> request_sleep(Request& r, std::chrono::milliseconds d) {
    const auto deadline = Clock::now() + d;
    while (!closed && !r.aborted && Clock::now() < deadline) {
      r.wake.expires_at(deadline);
      co_await r.wake.async_wait(kAwait);
    }
    co_return !closed && !r.aborted;
  }

  asio::awaitable<bool> wait_stdin(Request& r) {
    while (!closed && !r.aborted && !r.stdin_done && !peer_eof) {
      r.wake.expires_at(Clock::time_point::max());
      co_await r.wake.async_wait(kAwait);
    }
    co_return !closed && !r.aborted && r.stdin_done;
  }

  asio::awaitable<bool> write_head(Request& r, std::string head, int status) {
    if (!co_await write_stream(
            fcgi::RecordType::Stdout, r.id,
            [&](std::uint64_t off, std::size_t n) { return std::string_view(head).substr(off, n); },
            0, head.size()))
      co_return false;
    log(r.id, "headers_sent", "status=" + std::to_string(status));
    fire(BackendEvent::headers_sent, r.index, r.fired, r.id);
    co_return !closed;
  }

  // Writes body [0, total) in `piece`-byte writes, `delay` apart, splitting a write where a
  // body_bytes fault must act so that exactly its byte count is on the wire when it does.
  asio::awaitable<bool> write_body(
      Request& r, const std::function<std::string_view(std::uint64_t, std::size_t)>& source,
      std::uint64_t total, std::uint64_t piece, std::chrono::milliseconds delay) {
    fire_body(r);  // a threshold of 0 acts right after the head
    bool first = true;
    while (!closed && r.body_written < total) {
      if (r.aborted) co_return false;
      if (!first && delay.count() > 0 && !co_await request_sleep(r, delay)) co_return false;
      first = false;
      const std::uint64_t end = std::min(total, r.body_written + piece);
      while (r.body_written < end) {
        const std::uint64_t stop = body_split(r, end);
        if (!co_await write_stream(fcgi::RecordType::Stdout, r.id, source, r.body_written, stop))
          co_return false;
        r.body_written = stop;
        fire_body(r);
        if (closed) co_return false;
      }
    }
    co_return !closed && !r.aborted;
  }

  // The probe-app response up to (not including) the STDOUT terminator. False when aborted
  // or the connection went away.
  asio::awaitable<bool> produce(Request& r) {
    if (r.aborted) co_return false;
    std::string_view query_string;
    for (const auto& [name, value] : r.params) {
      if (name == "QUERY_STRING") {
        query_string = value;
        break;
      }
    }
    auto parsed = probe::parse_query(query_string);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      r.keep_stdin = false;
      r.stdin_data.clear();
      std::string body = "bad query: " + *error + "\n";
      if (!co_await write_head(r, "Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n",
                               400))
        co_return false;
      co_return co_await write_body(
          r,
          [&](std::uint64_t off, std::size_t n) { return std::string_view(body).substr(off, n); },
          body.size(), body.size(), {});
    }
    const auto& q = std::get<probe::ProbeQuery>(parsed);
    r.keep_stdin = q.echo;
    if (!q.echo) {
      r.stdin_data.clear();
      r.stdin_data.shrink_to_fit();
    }
    // size=N answers at once (the reader still consumes STDIN); echo and the listing need it.
    if (q.reads_body() && !co_await wait_stdin(r)) co_return false;
    if (q.first_byte_ms && !co_await request_sleep(r, std::chrono::milliseconds(q.first_byte_ms)))
      co_return false;
    if (q.stderr_bytes) {
      for (std::uint64_t at = 0; at < q.stderr_bytes; at += kDefaultPiece) {
        const auto to = std::min<std::uint64_t>(q.stderr_bytes, at + kDefaultPiece);
        if (!co_await write_stream(fcgi::RecordType::Stderr, r.id, stderr_view, at, to))
          co_return false;
      }
      // §3.3: a stream ends with its empty record.
      if (!co_await write_bytes(
              fcgi::encode_record(fcgi::make_stream_record(fcgi::RecordType::Stderr, r.id, ""))
                  .value()))
        co_return false;
    }
    if (!co_await write_head(r, probe::response_head(q.status), q.status)) co_return false;
    const std::chrono::milliseconds delay(q.delay_ms);
    if (q.size) {
      co_return co_await write_body(r, pattern_view, *q.size, q.chunk ? q.chunk : kDefaultPiece,
                                    delay);
    }
    std::string listing;
    if (!q.echo)
      listing = probe::params_listing(r.params, r.stdin_bytes, r.stdin_hash.hex_digest());
    const std::string& body = q.echo ? r.stdin_data : listing;
    const std::uint64_t total = body.size();
    co_return co_await write_body(
        r, [&](std::uint64_t off, std::size_t n) { return std::string_view(body).substr(off, n); },
        total, q.chunk ? q.chunk : std::max<std::uint64_t>(total, 1), delay);
  }

  // §5.5 END_REQUEST; after a complete response it follows the empty STDOUT (§6.2).
  asio::awaitable<void> end_request(Request& r, bool complete) {
    fcgi::Bytes out;
    if (complete)
      fcgi::append_record(fcgi::make_stream_record(fcgi::RecordType::Stdout, r.id, ""), out);
    fcgi::append_record(fcgi::make_end_request(r.id, 0, fcgi::ProtocolStatus::RequestComplete),
                        out);
    if (!co_await write_bytes(out)) co_return;
    ++st->completed;
    log(r.id, "end_request_sent",
        "protocol_status=REQUEST_COMPLETE app_status=0 body_bytes=" +
            std::to_string(r.body_written) + (complete ? "" : " aborted"));
    fire(BackendEvent::end_request_sent, r.index, r.fired, r.id);
    // §5.1: FCGI_KEEP_CONN clear means the application closes the connection after the request.
    if (!r.keep_conn) close_after_response("keep_conn clear", r.stdin_done);
  }

  /// Closes once the request's input is consumed: at once if the stdin terminator was read,
  /// else after shutting down our side and draining input until the terminator, EOF or
  /// kLingerTime (the lingering close a correct application does).
  void close_after_response(std::string_view why, bool input_complete) {
    if (closed || lingering) return;
    if (input_complete) {
      close(why);
      return;
    }
    lingering = true;
    linger_reason = why;
    error_code ignored_ec;
    socket.shutdown(net::Socket::shutdown_send, ignored_ec);
    log(0, "lingering", "draining unread input before closing");
    linger_timer = std::make_shared<asio::steady_timer>(ex, kLingerTime);
    linger_timer->async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->close(self->linger_reason + ", linger time over");
    });
  }

  void finish(const std::shared_ptr<Request>& r) {
    auto it = requests.find(r->id);
    if (it != requests.end() && it->second == r) requests.erase(it);
    if (peer_eof && requests.empty()) close("peer_closed");
  }

  // ---------------------------------------------------------------- reading

  void ignore(std::uint16_t id, std::uint8_t type, std::string_view why) {
    if (!ignored.insert({id, type}).second) return;
    log(id, "ignored_record", fcgi::type_name(type) + " " + std::string(why));
  }

  void on_record(const fcgi::Record& rec);
  void on_management(const fcgi::Record& rec);
  void on_begin_request(const fcgi::Record& rec);
};

asio::awaitable<void> delayed_fault(std::shared_ptr<Connection> c, BackendFault f,
                                    BackendEvent event, std::uint16_t id) {
  auto timer = std::make_shared<asio::steady_timer>(c->ex);
  c->fault_timers.insert(timer);
  timer->expires_after(std::chrono::milliseconds(f.delay_ms));
  auto [ec] = co_await timer->async_wait(kAwait);
  c->fault_timers.erase(timer);
  if (!ec) c->act(f, event, id);
}

asio::awaitable<void> respond(std::shared_ptr<Connection> c, std::shared_ptr<Request> r) {
  try {
    const bool complete = co_await c->produce(*r);
    if (!c->closed && (complete || r->aborted)) {
      co_await c->end_request(*r, complete);
    } else if (!c->closed) {
      c->log(r->id, "request_dropped", "peer closed before the request's input was complete");
    }
  } catch (const std::exception& e) {
    c->log(r->id, "write_error", e.what());
    c->close("exception");
  }
  c->finish(r);
}

// A reply the reader produced (management answers, rejections); spawned so the reader keeps
// consuming input while it waits for the write lock.
asio::awaitable<void> send_reply(std::shared_ptr<Connection> c, fcgi::Bytes bytes,
                                 bool close_after) {
  try {
    if (co_await c->write_bytes(bytes) && close_after && c->requests.empty())
      c->close("keep_conn clear");
  } catch (const std::exception& e) {
    c->log(0, "write_error", e.what());
    c->close("exception");
  }
}

asio::awaitable<void> read_loop(std::shared_ptr<Connection> c) {
  try {
    c->fire(BackendEvent::accepted, c->number, c->accepted_fired, 0);
    std::vector<char> buffer(64 * 1024);
    std::vector<fcgi::Record> records;
    while (co_await c->gate()) {
      auto [ec, n] = co_await c->socket.async_read_some(asio::buffer(buffer), kAwait);
      if (c->closed) break;
      if (ec && c->lingering) {
        c->close(c->linger_reason);  // EOF (or error) from the peer ends the drain
        break;
      }
      if (ec == asio::error::eof) {
        c->log(0, "peer_closed");
        c->peer_eof = true;
        // Requests still waiting for input can't complete; ones already answering go on
        // (their writes then meet EPIPE/ECONNRESET, which is what a scenario wants to see).
        for (auto it = c->requests.begin(); it != c->requests.end();) {
          if (!it->second->responding) {
            it = c->requests.erase(it);
          } else {
            it->second->wake.cancel();
            ++it;
          }
        }
        if (c->requests.empty()) c->close("peer_closed");
        break;
      }
      if (ec) {
        c->log(0, "read_error", ec.message());
        c->close("read_error");
        break;
      }
      records.clear();
      auto error = c->decoder.feed(std::string_view(buffer.data(), n), records);
      for (const auto& rec : records) {
        // A stall stops reading between records too.
        if (!co_await c->gate()) break;
        c->on_record(rec);
      }
      if (c->closed) break;
      if (error) {
        c->log(0, "protocol_error", error->message);
        c->close("protocol_error");
        break;
      }
    }
  } catch (const std::exception& e) {
    c->log(0, "read_error", e.what());
    c->close("exception");
  }
}

void Connection::trigger(const BackendFault& f, BackendEvent event, std::uint16_t id) {
  if (f.delay_ms == 0) {
    act(f, event, id);  // synchronously: nothing else happens on the connection first
  } else {
    spawn(ex, delayed_fault(shared_from_this(), f, event, id));
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
          answer.emplace_back(name, std::to_string(st->config.max_conns));
        } else if (name == fcgi::kMaxReqs) {
          answer.emplace_back(name, std::to_string(st->config.max_reqs));
        } else if (name == fcgi::kMpxsConns) {
          answer.emplace_back(name, st->config.mpxs_conns ? "1" : "0");
        }
      }
    } else {
      asked = "malformed: " + names.error().message;
    }
    log(0, "get_values", asked);
    spawn(ex, send_reply(shared_from_this(),
                         fcgi::encode_record(fcgi::make_get_values_result(answer)).value(), false));
    return;
  }
  // §4.2: any other management record type gets UNKNOWN_TYPE.
  log(0, "unknown_type_sent", fcgi::type_name(rec.type));
  spawn(ex, send_reply(shared_from_this(),
                       fcgi::encode_record(fcgi::make_unknown_type(rec.type)).value(), false));
}

void Connection::on_begin_request(const fcgi::Record& rec) {
  auto body = fcgi::decode_begin_request(rec);
  if (!body) {
    log(rec.request_id, "protocol_error", body.error().message);
    close("protocol_error");
    return;
  }
  const auto& b = body.value();
  if (requests.count(rec.request_id)) {
    log(rec.request_id, "ignored_record", "BEGIN_REQUEST for an active request id");
    return;
  }
  ignored.erase({rec.request_id, static_cast<std::uint8_t>(fcgi::RecordType::Params)});
  ignored.erase({rec.request_id, static_cast<std::uint8_t>(fcgi::RecordType::Stdin)});
  const std::uint32_t index = ++st->begun;
  log(rec.request_id, "begin_request",
      "role=" + std::to_string(b.role) + " flags=" + std::to_string(b.flags) +
          " keep_conn=" + (b.keep_conn() ? "1" : "0") + " index=" + std::to_string(index));
  std::vector<bool> fired(st->config.faults.size(), false);
  fire(BackendEvent::begin_request, index, fired, rec.request_id);
  if (closed) return;
  if (b.role != static_cast<std::uint16_t>(fcgi::Role::Responder)) {
    // §5.5 FCGI_UNKNOWN_ROLE.
    log(rec.request_id, "unknown_role", "role=" + std::to_string(b.role));
    spawn(ex,
          send_reply(shared_from_this(),
                     fcgi::encode_record(fcgi::make_end_request(rec.request_id, 0,
                                                                fcgi::ProtocolStatus::UnknownRole))
                         .value(),
                     !b.keep_conn()));
    return;
  }
  if (!st->config.mpxs_conns && !requests.empty()) {
    // §5.5 FCGI_CANT_MPX_CONN: one request at a time on this connection.
    log(rec.request_id, "cant_mpx_conn");
    spawn(ex,
          send_reply(shared_from_this(),
                     fcgi::encode_record(fcgi::make_end_request(rec.request_id, 0,
                                                                fcgi::ProtocolStatus::CantMpxConn))
                         .value(),
                     false));
    return;
  }
  auto r = std::make_shared<Request>(ex);
  r->id = rec.request_id;
  r->index = index;
  r->keep_conn = b.keep_conn();
  r->fired = std::move(fired);
  const auto id = r->id;
  requests.emplace(id, std::move(r));
}

void Connection::on_record(const fcgi::Record& rec) {
  if (lingering) {
    // Only draining now: the stdin terminator means the request's input is all read.
    if (rec.is(fcgi::RecordType::Stdin) && rec.content.empty()) close(linger_reason);
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
    ignore(rec.request_id, rec.type, "for an unknown request id");
    return;
  }
  auto r = it->second;
  switch (static_cast<fcgi::RecordType>(rec.type)) {
    case fcgi::RecordType::Params:
      if (r->params_done) {
        ignore(r->id, rec.type, "after the stream's end");
      } else if (!rec.content.empty()) {
        r->params_data += rec.content;
      } else {
        auto decoded = fcgi::decode_name_values(r->params_data);
        if (!decoded) {
          log(r->id, "protocol_error", decoded.error().message);
          close("protocol_error");
          return;
        }
        r->params = std::move(decoded.value());
        r->params_data.clear();
        r->params_done = true;
        log(r->id, "params_received", "count=" + std::to_string(r->params.size()));
        fire(BackendEvent::params_received, r->index, r->fired, r->id);
        if (closed || r->responding) return;
        r->responding = true;
        spawn(ex, respond(shared_from_this(), r));
      }
      return;
    case fcgi::RecordType::Stdin:
      if (r->stdin_done) {
        ignore(r->id, rec.type, "after the stream's end");
      } else if (!rec.content.empty()) {
        r->stdin_bytes += rec.content.size();
        r->stdin_hash.update(rec.content);
        if (r->keep_stdin) r->stdin_data += rec.content;
      } else {
        r->stdin_done = true;
        log(r->id, "stdin_received", "bytes=" + std::to_string(r->stdin_bytes));
        fire(BackendEvent::stdin_received, r->index, r->fired, r->id);
        r->wake.cancel();
      }
      return;
    case fcgi::RecordType::AbortRequest:
      // §5.4: the application answers an abort with END_REQUEST.
      log(r->id, "abort_request");
      r->aborted = true;
      if (r->responding) {
        r->wake.cancel();
      } else {
        r->responding = true;
        spawn(ex, respond(shared_from_this(), r));
      }
      return;
    case fcgi::RecordType::Data:
      return;  // FILTER input; a RESPONDER has no use for it (§6.2)
    default:
      ignore(r->id, rec.type, "not sent to applications");
      return;
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> st) {
  while (!st->stopped) {
    auto [ec, socket] = co_await st->acceptor->async_accept(kAwait);
    if (st->stopped) break;
    if (ec) {
      st->log(0, 0, "accept_error", ec.message());
      // Back off briefly (EMFILE and the like) instead of spinning.
      st->accept_backoff.expires_after(std::chrono::milliseconds(10));
      co_await st->accept_backoff.async_wait(kAwait);
      continue;
    }
    net::set_no_delay(socket);
    const std::uint32_t number = ++st->connections_accepted;
    auto c = std::make_shared<Connection>(st, std::move(socket), number);
    st->connections.emplace(number, c);
    st->log(number, 0, "accepted");
    const auto ex = c->ex;  // not c->ex in the call: the argument moves c
    spawn(ex, read_loop(std::move(c)));
  }
}

}  // namespace

struct FakeBackend::State : BackendState {
  using BackendState::BackendState;
};

FakeBackend::FakeBackend(asio::io_context& io, BackendConfig config)
    : state_(std::make_shared<State>(io, std::move(config))) {}

FakeBackend::~FakeBackend() {
  stop();
}

void FakeBackend::start() {
  auto& st = *state_;
  st.acceptor.emplace(net::listen(st.io.get_executor(), st.config.listen));
  st.bound = net::local_address(*st.acceptor, st.config.listen);
  st.started = true;
  spawn(st.io.get_executor(), accept_loop(state_));
}

net::Address FakeBackend::address() const {
  return state_->bound;
}

void FakeBackend::stop() {
  auto& st = *state_;
  if (st.stopped) return;
  st.stopped = true;
  error_code ignored;
  if (st.acceptor) st.acceptor->close(ignored);
  st.accept_backoff.cancel();
  if (st.started && !st.bound.is_tcp()) ::unlink(st.bound.path.c_str());
  std::vector<std::shared_ptr<Connection>> open;
  for (auto& [n, weak] : st.connections) {
    if (auto c = weak.lock()) open.push_back(std::move(c));
  }
  for (auto& c : open) c->close("stopped");
  st.connections.clear();
}

const std::vector<BackendLogEntry>& FakeBackend::log() const {
  return state_->entries;
}
std::uint32_t FakeBackend::requests_begun() const {
  return state_->begun;
}
std::uint32_t FakeBackend::requests_completed() const {
  return state_->completed;
}

}  // namespace fh::fake
