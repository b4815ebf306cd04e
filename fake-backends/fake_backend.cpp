// The embedded fake FastCGI backend (see fake_backend.hpp). Section numbers refer to the
// FastCGI Specification 1.0. The fault vocabulary is documented in docs/faults-backend.md.
//
// Shape: one accept coroutine; per connection one reader coroutine and one responder
// coroutine per served request. Writes go through an awaitable FIFO lock held for whole
// records, so records never interleave mid-record and a responder knows exactly how many
// body bytes are written (which the body_bytes fault needs). Every coroutine holds
// shared_ptrs to what it touches, and every wait is on a timer or socket that stop()/close
// cancels.
#include "fake-backends/fake_backend.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
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
    case BackendEvent::params_complete:
      return "params_complete";
    case BackendEvent::stdin_terminator_received:
      return "stdin_terminator_received";
    case BackendEvent::headers_sent:
      return "headers_sent";
    case BackendEvent::end_request_sent:
      return "end_request_sent";
    case BackendEvent::body_bytes:
      return "body_bytes";
    case BackendEvent::stdin_bytes:
      return "stdin_bytes";
    case BackendEvent::request_count:
      return "request_count";
    case BackendEvent::bus:
      return "event";
  }
  return "?";
}

std::string_view action_name(BackendAction action) {
  switch (action) {
    case BackendAction::close:
      return "close";
    case BackendAction::shutdown:
      return "shutdown";
    case BackendAction::reset:
      return "reset";
    case BackendAction::stall:
      return "stall";
    case BackendAction::stall_reading:
      return "stall_reading";
    case BackendAction::stall_writing:
      return "stall_writing";
    case BackendAction::end_request:
      return "end_request";
    case BackendAction::send_record:
      return "send_record";
  }
  return "?";
}

using Source = std::function<std::string_view(std::uint64_t, std::size_t)>;

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
struct BackendState : std::enable_shared_from_this<BackendState> {
  BackendState(asio::io_context& io_context, BackendConfig cfg)
      : io(io_context),
        config(std::move(cfg)),
        accept_backoff(io_context),
        resume_accepting(io_context),
        worker_free(io_context),
        respawn_timer(io_context) {}

  asio::io_context& io;
  BackendConfig config;
  std::optional<net::Acceptor> acceptor;
  net::Address bound;
  asio::steady_timer accept_backoff;
  asio::steady_timer resume_accepting;  // wakes the accept loop when accepting resumes
  asio::steady_timer worker_free;       // wakes the accept loop when a connection closes
  asio::steady_timer respawn_timer;
  bool started = false;
  bool stopped = false;
  bool accepting = true;
  std::uint32_t connections_accepted = 0;
  std::uint32_t begun = 0;
  std::uint32_t completed = 0;
  std::uint32_t life_begun = 0;             // requests since start or the last respawn
  std::optional<std::uint32_t> exit_index;  // exit once this request is over
  std::map<std::uint32_t, std::weak_ptr<Connection>> connections;
  std::vector<BackendLogEntry> entries;
  std::vector<int> subscriptions;  // bus faults

  void log(std::uint32_t connection, std::uint16_t request_id, std::string what,
           std::string detail = {}) {
    const auto now = Clock::now();
    // Recorded before publishing: a subscriber may act and log in turn.
    entries.push_back(BackendLogEntry{now, connection, request_id, what, detail});
    if (config.bus)
      config.bus->publish(
          events::Event{now, "backend", std::move(what), connection, request_id, 0, detail});
  }

  void apply_receive_buffer(auto& socket) {
    if (!config.receive_buffer) return;
    error_code ignored;
    socket.set_option(
        asio::socket_base::receive_buffer_size(static_cast<int>(config.receive_buffer)), ignored);
  }

  void stop_accepting(std::string why) {
    if (!accepting) return;
    accepting = false;
    error_code ignored;
    // Pending accepts end; new connections wait in the listen backlog.
    if (acceptor) acceptor->cancel(ignored);
    log(0, 0, "accepting_stopped", std::move(why));
  }

  void request_over(std::uint32_t index);
  void exit_now();
  void respawn();
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
  bool end_sent = false;  // END_REQUEST written (early by a fault, or at the end)
  bool over = false;      // request_over() reported
  std::uint64_t body_written = 0;
  std::vector<bool> fired;  // per config fault
  asio::steady_timer wake;  // the responder's sleeps; cancelled to wake it early
};

struct LockWaiter {
  explicit LockWaiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool granted = false;
};

// A record as the writer sends it: header, content (a view the caller keeps alive), padding.
struct OutRecord {
  std::uint8_t type = 0;
  std::uint16_t id = 0;
  std::string_view content;
  std::uint8_t padding = 0;
  bool body = false;  // STDOUT content that counts as response body
  std::uint64_t body_from = 0;
  std::array<std::uint8_t, fcgi::kHeaderLength> header{};
  std::size_t wire_size() const { return fcgi::kHeaderLength + content.size() + padding; }
};

// Bytes a fault queued (early END_REQUEST, odd records), written before the next record.
struct Pending {
  fcgi::Bytes bytes;
  std::uint16_t id = 0;
  std::string what;
  std::string detail;
};

const std::string kZeros(255, '\0');

struct Connection : std::enable_shared_from_this<Connection> {
  Connection(std::shared_ptr<State> state, net::Socket sock, std::uint32_t n)
      : st(std::move(state)),
        socket(std::move(sock)),
        ex(socket.get_executor()),
        number(n),
        read_stall_timer(ex),
        write_stall_timer(ex),
        segment_timer(ex),
        accepted_fired(st->config.faults.size(), false),
        bus_fired(st->config.faults.size(), false) {}

  std::shared_ptr<State> st;
  net::Socket socket;
  asio::any_io_executor ex;
  std::uint32_t number;
  bool closed = false;
  bool peer_eof = false;
  bool write_shut = false;  // `shutdown` fault: our side sent FIN, no more writes
  fcgi::RecordDecoder decoder;
  std::map<std::uint16_t, std::shared_ptr<Request>> requests;
  std::map<std::uint32_t, std::uint16_t> indices;            // request index -> id, for bus faults
  std::set<std::pair<std::uint16_t, std::uint8_t>> ignored;  // logged once each
  std::set<std::uint16_t> late_stdin;  // ignore_late_stdin_terminator: finished, input open
  // Write lock: one writer at a time on the socket, FIFO, held for whole records.
  bool writing = false;
  std::deque<std::shared_ptr<LockWaiter>> waiters;
  std::deque<Pending> pending;
  // Stalls: reading / writing wait until these (time_point::max(): until stopped or `until`).
  Clock::time_point read_stall_until{};
  Clock::time_point write_stall_until{};
  asio::steady_timer read_stall_timer;
  asio::steady_timer write_stall_timer;
  asio::steady_timer segment_timer;
  std::vector<int> subscriptions;                              // `until` of stalls
  std::set<std::shared_ptr<asio::steady_timer>> fault_timers;  // delayed faults
  std::vector<bool> accepted_fired;
  std::vector<bool> bus_fired;
  // Lingering close: the response is out and our side is shut down, but unread input is
  // drained first, because closing with unread input sends an RST that can destroy the
  // response still in flight (the uWSGI truncation in shared/seeds).
  bool lingering = false;
  std::string linger_reason;
  std::shared_ptr<asio::steady_timer> linger_timer;

  const BackendConfig& cfg() const { return st->config; }

  void log(std::uint16_t id, std::string what, std::string detail = {}) {
    st->log(number, id, std::move(what), std::move(detail));
  }

  void close(std::string_view why, bool reset = false) {
    if (closed) return;
    closed = true;
    error_code ignored_ec;
    // A plain close(): FIN, or RST when input is still unread (Linux tcp_close), as a
    // crashing or exiting application does. SO_LINGER {1, 0} forces the RST.
    if (reset) socket.set_option(asio::socket_base::linger(true, 0), ignored_ec);
    socket.close(ignored_ec);
    if (linger_timer) linger_timer->cancel();
    read_stall_timer.cancel();
    write_stall_timer.cancel();
    segment_timer.cancel();
    for (auto& t : fault_timers) t->cancel();
    for (auto& w : waiters) w->timer.cancel();
    waiters.clear();
    pending.clear();
    if (cfg().bus)
      for (int id : subscriptions) cfg().bus->unsubscribe(id);
    subscriptions.clear();
    std::vector<std::uint32_t> open;
    for (auto& [id, r] : requests) {
      r->wake.cancel();
      if (!r->over) open.push_back(r->index);
      r->over = true;
    }
    log(0, "connection_closed", std::string(why));
    st->connections.erase(number);
    st->worker_free.cancel();  // a `workers` slot is free
    for (auto index : open) st->request_over(index);
  }

  void request_over(Request& r) {
    if (r.over) return;
    r.over = true;
    st->request_over(r.index);
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

  // Waits out a stall. False once the connection is closed. Only act()/stall end move the
  // timers, so several waiters never re-arm (and cancel) each other.
  asio::awaitable<bool> gate(bool for_writing) {
    auto& until = for_writing ? write_stall_until : read_stall_until;
    auto& timer = for_writing ? write_stall_timer : read_stall_timer;
    while (!closed && Clock::now() < until) co_await timer.async_wait(kAwait);
    co_return !closed;
  }

  // One async_write; the caller holds the write lock and keeps the buffers alive.
  asio::awaitable<bool> raw_write(const std::vector<asio::const_buffer>& buffers) {
    if (!co_await gate(true)) co_return false;
    if (write_shut) co_return false;
    auto [ec, n] = co_await asio::async_write(socket, buffers, kAwait);
    if (ec) {
      if (!closed) {
        log(0, "write_error", ec.message());
        close("write_error");
      }
      co_return false;
    }
    co_return !closed && !write_shut;
  }

  void fire_end_request(std::uint16_t id);

  // Writes what faults queued; the caller holds the write lock, between records.
  asio::awaitable<bool> flush_pending() {
    while (!pending.empty() && !closed) {
      Pending p = std::move(pending.front());
      pending.pop_front();
      std::vector<asio::const_buffer> buffers{asio::buffer(p.bytes)};
      if (!co_await raw_write(buffers)) co_return false;
      log(p.id, p.what, p.detail);
      if (p.what == "end_request_sent") fire_end_request(p.id);
    }
    co_return !closed;
  }

  // One locked write of `buffers` after whatever faults queued.
  asio::awaitable<bool> write(std::vector<asio::const_buffer> buffers) {
    if (!co_await lock_writer()) co_return false;
    Unlocker unlocker{this};
    if (!co_await flush_pending()) co_return false;
    co_return co_await raw_write(buffers);
  }

  asio::awaitable<bool> write_bytes(const fcgi::Bytes& bytes) {
    std::vector<asio::const_buffer> buffers;
    buffers.push_back(asio::buffer(bytes));
    co_return co_await write(std::move(buffers));
  }

  asio::awaitable<void> flush_later() {
    if (!co_await lock_writer()) co_return;
    Unlocker unlocker{this};
    co_await flush_pending();
  }

  std::uint8_t padding_for(std::size_t content) const {
    return cfg().padding_align8 ? fcgi::padding_to_align8(content) : cfg().padding;
  }

  OutRecord make_record(fcgi::RecordType type, std::uint16_t id, std::string_view content) const {
    OutRecord rec;
    rec.type = static_cast<std::uint8_t>(type);
    rec.id = id;
    rec.content = content;
    rec.padding = padding_for(content.size());
    return rec;
  }

  // Records for bytes [from, to) of `source`: at most record_size content each (§3.3), split
  // where a body_bytes fault acts, and with the STDERR interleave after every K body bytes.
  std::vector<OutRecord> plan_stream(fcgi::RecordType type, std::uint16_t id, const Source& source,
                                     std::uint64_t from, std::uint64_t to, const Request* body) {
    std::vector<OutRecord> out;
    const std::uint64_t size =
        std::clamp<std::uint64_t>(cfg().record_size, 1, fcgi::kMaxContentLength);
    std::uint64_t at = from;
    while (at < to) {
      std::uint64_t end = std::min(to, at + size);
      const std::uint64_t every = cfg().stderr_every;
      if (body) {
        end = body_split(*body, at, end);
        if (every && cfg().stderr_bytes) end = std::min(end, (at / every + 1) * every);
      }
      auto rec = make_record(type, id, source(at, static_cast<std::size_t>(end - at)));
      rec.body = body != nullptr;
      rec.body_from = at;
      out.push_back(rec);
      at = end;
      if (body && every && cfg().stderr_bytes && at % every == 0) {
        // FastCGI 1.0 §6.1: STDERR may be interleaved with STDOUT at record boundaries.
        auto err = make_record(fcgi::RecordType::Stderr, id,
                               stderr_view(0, static_cast<std::size_t>(std::min<std::uint64_t>(
                                                  cfg().stderr_bytes, fcgi::kMaxContentLength))));
        out.push_back(err);
      }
    }
    return out;
  }

  static void wire_parts(OutRecord& rec, std::vector<asio::const_buffer>& out) {
    fcgi::Header h;
    h.type = rec.type;
    h.request_id = rec.id;
    h.content_length = static_cast<std::uint16_t>(rec.content.size());
    h.padding_length = rec.padding;
    fcgi::encode_header(h, rec.header.data());
    out.push_back(asio::buffer(rec.header));
    if (!rec.content.empty()) out.push_back(asio::buffer(rec.content.data(), rec.content.size()));
    if (rec.padding) out.push_back(asio::buffer(kZeros.data(), rec.padding));
  }

  // Wire offsets inside `rec` where a write must end: segment boundaries and the points
  // where mid_record body_bytes faults act.
  std::vector<std::size_t> split_points(const OutRecord& rec, const Request* r) const {
    std::set<std::size_t> points;
    std::size_t at = 0;
    for (auto s : cfg().segments) {
      at += s;
      if (at >= rec.wire_size()) break;
      points.insert(at);
    }
    if (rec.body && r) {
      const auto& faults = cfg().faults;
      for (std::size_t i = 0; i < faults.size(); ++i) {
        const auto& f = faults[i];
        if (r->fired[i] || !f.mid_record || !matches(f, BackendEvent::body_bytes, r->index))
          continue;
        if (f.bytes >= rec.body_from && f.bytes < rec.body_from + rec.content.size())
          points.insert(fcgi::kHeaderLength + static_cast<std::size_t>(f.bytes - rec.body_from));
      }
    }
    return {points.begin(), points.end()};
  }

  // Writes `records` under the write lock: consecutive plain records in one write, records
  // with split points as separate writes (segment_delay_ms between segments). Body faults
  // act when exactly their byte count is on the wire.
  asio::awaitable<bool> write_records(Request* r, std::vector<OutRecord> records) {
    if (!co_await lock_writer()) co_return false;
    Unlocker unlocker{this};
    if (!co_await flush_pending()) co_return false;
    std::vector<asio::const_buffer> batch;
    std::uint64_t batch_body_end = 0;
    bool batch_has_body = false;
    for (auto& rec : records) {
      const auto points = split_points(rec, r);
      if (points.empty()) {
        wire_parts(rec, batch);
        if (rec.body) {
          batch_has_body = true;
          batch_body_end = rec.body_from + rec.content.size();
        }
        // A body_bytes fault acts exactly at its byte count: end the write there.
        if (!rec.body || !r || body_split(*r, batch_body_end - 1, UINT64_MAX) != batch_body_end)
          continue;
      }
      if (!batch.empty()) {
        if (!co_await raw_write(batch)) co_return false;
        batch.clear();
        if (batch_has_body && r) {
          r->body_written = batch_body_end;
          fire_body(*r);
          if (closed) co_return false;
        }
        batch_has_body = false;
        if (!co_await flush_pending()) co_return false;
      }
      if (points.empty()) continue;
      // This record in parts.
      std::vector<asio::const_buffer> whole;
      wire_parts(rec, whole);
      std::size_t done = 0;
      std::set<std::size_t> segment_ends;
      std::size_t seg = 0;
      for (auto s : cfg().segments) segment_ends.insert(seg += s);
      for (std::size_t i = 0; i <= points.size(); ++i) {
        const std::size_t end = i < points.size() ? points[i] : rec.wire_size();
        std::vector<asio::const_buffer> part;
        std::size_t offset = 0;
        for (const auto& b : whole) {
          const std::size_t b_end = offset + b.size();
          const std::size_t lo = std::max(offset, done), hi = std::min(b_end, end);
          if (lo < hi)
            part.push_back(
                asio::buffer(static_cast<const char*>(b.data()) + (lo - offset), hi - lo));
          offset = b_end;
        }
        if (!co_await raw_write(part)) co_return false;
        done = end;
        if (rec.body && r && done > fcgi::kHeaderLength) {
          r->body_written = rec.body_from +
                            std::min<std::uint64_t>(done - fcgi::kHeaderLength, rec.content.size());
          fire_body(*r, true);
          if (closed || write_shut) co_return false;
        }
        if (end < rec.wire_size() && segment_ends.count(end) && cfg().segment_delay_ms) {
          segment_timer.expires_after(std::chrono::milliseconds(cfg().segment_delay_ms));
          co_await segment_timer.async_wait(kAwait);
          if (closed) co_return false;
        }
      }
      if (!co_await flush_pending()) co_return false;
    }
    if (!batch.empty()) {
      if (!co_await raw_write(batch)) co_return false;
      if (batch_has_body && r) {
        r->body_written = batch_body_end;
        fire_body(*r);
      }
    }
    co_return !closed && !write_shut;
  }

  asio::awaitable<bool> write_stream(fcgi::RecordType type, std::uint16_t id, const Source& source,
                                     std::uint64_t from, std::uint64_t to, Request* body) {
    co_return co_await write_records(body, plan_stream(type, id, source, from, to, body));
  }

  // ---------------------------------------------------------------- faults

  static bool matches(const BackendFault& f, BackendEvent event, std::uint32_t index) {
    if (f.at == BackendEvent::request_count)
      return event == BackendEvent::begin_request && f.bytes == index;
    return f.at == event && (!f.request_index || *f.request_index == index);
  }

  void start_stall(const BackendFault& f, bool reading, bool writing_too) {
    const auto until = f.stall_ms ? Clock::now() + std::chrono::milliseconds(f.stall_ms)
                                  : Clock::time_point::max();
    // Timers, so stop() (close) cancels them; gate() callers re-check after every wake.
    if (reading) {
      read_stall_until = until;
      read_stall_timer.expires_at(until);
    }
    if (writing_too) {
      write_stall_until = until;
      write_stall_timer.expires_at(until);
    }
    if (!f.until.empty() && cfg().bus) {
      std::weak_ptr<Connection> weak = shared_from_this();
      subscriptions.push_back(cfg().bus->subscribe(
          events::Selector::parse(f.until), [weak, reading, writing_too](const events::Event& e) {
            auto c = weak.lock();
            if (!c || c->closed) return;
            c->end_stall(reading, writing_too, e.party + "." + e.name);
          }));
    }
  }

  void end_stall(bool reading, bool writing_too, const std::string& why) {
    const auto now = Clock::now();
    bool ended = false;
    if (reading && read_stall_until > now) {
      read_stall_until = now;
      read_stall_timer.cancel();
      ended = true;
    }
    if (writing_too && write_stall_until > now) {
      write_stall_until = now;
      write_stall_timer.cancel();
      ended = true;
    }
    if (ended) log(0, "stall_ended", why);
  }

  std::uint16_t inactive_id(std::uint16_t current) const {
    for (std::uint16_t id = 1; id < 0xffff; ++id)
      if (id != current && !requests.count(id)) return id;
    return 0xffff;
  }

  void act(const BackendFault& f, BackendEvent event, std::uint16_t id) {
    if (closed) return;
    std::string detail = "at=" + std::string(event_name(event));
    if (event == BackendEvent::bus) detail += " " + f.event;
    if (f.at == BackendEvent::body_bytes || f.at == BackendEvent::stdin_bytes ||
        f.at == BackendEvent::request_count)
      detail = "at=" + std::string(event_name(f.at)) + ":" + std::to_string(f.bytes);
    if (f.delay_ms) detail += " delay_ms=" + std::to_string(f.delay_ms);
    if (f.stall_ms) detail += " stall_ms=" + std::to_string(f.stall_ms);
    if (!f.until.empty()) detail += " until=" + f.until;
    log(id, "fault:" + std::string(action_name(f.action)), detail);
    const auto a = f.action;
    if (a == BackendAction::close) {
      close("fault:close");
    } else if (a == BackendAction::reset) {
      close("fault:reset", true);
    } else if (a == BackendAction::shutdown) {
      // FIN only: the peer reads EOF; we go on reading (and drain) until it closes.
      error_code ignored_ec;
      socket.shutdown(net::Socket::shutdown_send, ignored_ec);
      write_shut = true;
    } else if (a == BackendAction::stall) {
      start_stall(f, true, true);
    } else if (a == BackendAction::stall_reading) {
      start_stall(f, true, false);
    } else if (a == BackendAction::stall_writing) {
      start_stall(f, false, true);
    } else if (a == BackendAction::end_request) {
      auto it = requests.find(id);
      if (it != requests.end()) {
        if (it->second->end_sent) return;
        it->second->end_sent = true;
      }
      fcgi::Bytes out;
      auto rec = fcgi::make_end_request(id, 0, fcgi::ProtocolStatus::RequestComplete);
      rec.padding_length = padding_for(rec.content.size());
      fcgi::append_record(rec, out);
      ++st->completed;
      pending.push_back(Pending{std::move(out), id, "end_request_sent",
                                "protocol_status=REQUEST_COMPLETE app_status=0 early"});
      spawn(ex, flush_later());
    } else if (a == BackendAction::send_record) {
      fcgi::Record rec;
      rec.type = f.record.type;
      rec.request_id = f.record.request_id    ? *f.record.request_id
                       : f.record.inactive_id ? inactive_id(id)
                                              : id;
      rec.content.assign(f.record.length, rec.type == 7 ? 'E' : 'R');
      rec.padding_length = f.record.padding;
      fcgi::Bytes out;
      fcgi::append_record(rec, out);
      pending.push_back(Pending{std::move(out), rec.request_id, "record_sent",
                                fcgi::type_name(rec.type) +
                                    " length=" + std::to_string(f.record.length) +
                                    " padding=" + std::to_string(f.record.padding)});
      spawn(ex, flush_later());
    }
  }

  void trigger(const BackendFault& f, BackendEvent event, std::uint16_t id);

  // Fires every not-yet-fired fault for `event` on the request with arrival index `index`.
  void fire(BackendEvent event, std::uint32_t index, std::vector<bool>& fired, std::uint16_t id) {
    const auto& faults = cfg().faults;
    for (std::size_t i = 0; i < faults.size() && !closed; ++i) {
      if (fired[i] || !matches(faults[i], event, index)) continue;
      fired[i] = true;
      trigger(faults[i], event, id);
    }
  }

  // body_bytes faults whose threshold `written` has reached (mid-record ones only when
  // `mid` says the write just ended inside a record).
  void fire_body(Request& r, bool mid = false) {
    const auto& faults = cfg().faults;
    for (std::size_t i = 0; i < faults.size() && !closed; ++i) {
      if (r.fired[i] || !matches(faults[i], BackendEvent::body_bytes, r.index)) continue;
      if (faults[i].bytes > r.body_written) continue;
      if (faults[i].mid_record && !mid) continue;
      r.fired[i] = true;
      trigger(faults[i], BackendEvent::body_bytes, r.id);
    }
  }

  // The next unfired (record-boundary) body_bytes threshold in (at, limit), or limit.
  std::uint64_t body_split(const Request& r, std::uint64_t at, std::uint64_t limit) const {
    const auto& faults = cfg().faults;
    for (std::size_t i = 0; i < faults.size(); ++i) {
      const auto& f = faults[i];
      if (r.fired[i] || f.mid_record || !matches(f, BackendEvent::body_bytes, r.index)) continue;
      if (f.bytes > at && f.bytes < limit) limit = f.bytes;
    }
    return limit;
  }

  void fire_stdin(Request& r) {
    const auto& faults = cfg().faults;
    for (std::size_t i = 0; i < faults.size() && !closed; ++i) {
      if (r.fired[i] || !matches(faults[i], BackendEvent::stdin_bytes, r.index)) continue;
      if (faults[i].bytes > r.stdin_bytes) continue;
      r.fired[i] = true;
      trigger(faults[i], BackendEvent::stdin_bytes, r.id);
    }
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

  asio::awaitable<bool> write_head(Request& r, std::string head, int status,
                                   std::uint64_t body_size) {
    if (cfg().content_length_offset) {
      // A Content-Length that may lie (RFC 9112 §6.3): the gateway must not trust it blindly.
      const auto claimed = std::max<std::int64_t>(
          0, static_cast<std::int64_t>(body_size) + *cfg().content_length_offset);
      head.insert(head.size() - 2, "Content-Length: " + std::to_string(claimed) + "\r\n");
    }
    if (!co_await write_stream(
            fcgi::RecordType::Stdout, r.id,
            [&](std::uint64_t off, std::size_t n) { return std::string_view(head).substr(off, n); },
            0, head.size(), nullptr))
      co_return false;
    log(r.id, "headers_sent", "status=" + std::to_string(status));
    fire(BackendEvent::headers_sent, r.index, r.fired, r.id);
    co_return !closed && !write_shut;
  }

  // Writes body [0, total) in `piece`-byte writes, `delay` apart.
  asio::awaitable<bool> write_body(Request& r, const Source& source, std::uint64_t total,
                                   std::uint64_t piece, std::chrono::milliseconds delay) {
    fire_body(r);  // a threshold of 0 acts right after the head
    bool first = true;
    while (!closed && !write_shut && r.body_written < total) {
      if (r.aborted) co_return false;
      if (!first && delay.count() > 0 && !co_await request_sleep(r, delay)) co_return false;
      first = false;
      const std::uint64_t end = std::min(total, r.body_written + piece);
      if (!co_await write_stream(fcgi::RecordType::Stdout, r.id, source, r.body_written, end, &r))
        co_return false;
      r.body_written = end;
    }
    co_return !closed && !write_shut && !r.aborted;
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
                               400, body.size()))
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
      if (!co_await write_stream(fcgi::RecordType::Stderr, r.id, stderr_view, 0, q.stderr_bytes,
                                 nullptr))
        co_return false;
      // §3.3: a stream ends with its empty record.
      std::vector<OutRecord> end{make_record(fcgi::RecordType::Stderr, r.id, "")};
      if (!co_await write_records(nullptr, std::move(end))) co_return false;
    }
    const std::chrono::milliseconds delay(q.delay_ms);
    if (q.size) {
      if (!co_await write_head(r, probe::response_head(q.status), q.status, *q.size))
        co_return false;
      co_return co_await write_body(r, pattern_view, *q.size, q.chunk ? q.chunk : kDefaultPiece,
                                    delay);
    }
    std::string listing;
    if (!q.echo)
      listing = probe::params_listing(r.params, r.stdin_bytes, r.stdin_hash.hex_digest());
    const std::string& body = q.echo ? r.stdin_data : listing;
    const std::uint64_t total = body.size();
    if (!co_await write_head(r, probe::response_head(q.status), q.status, total)) co_return false;
    co_return co_await write_body(
        r, [&](std::uint64_t off, std::size_t n) { return std::string_view(body).substr(off, n); },
        total, q.chunk ? q.chunk : std::max<std::uint64_t>(total, 1), delay);
  }

  // §5.5 END_REQUEST; after a complete response it follows the empty STDOUT (§6.2).
  asio::awaitable<void> end_request(Request& r, bool complete) {
    std::vector<OutRecord> out;
    if (complete && cfg().stdout_terminator)
      out.push_back(make_record(fcgi::RecordType::Stdout, r.id, ""));
    if (complete && !cfg().stdout_terminator) log(r.id, "stdout_terminator_withheld");
    const bool send_end = cfg().end_request && !r.end_sent;
    auto end = fcgi::make_end_request(r.id, 0, fcgi::ProtocolStatus::RequestComplete);
    if (send_end && cfg().end_request_delay_ms && !out.empty()) {
      if (!co_await write_records(&r, std::move(out))) co_return;
      out.clear();
      log(r.id, "end_request_delayed", std::to_string(cfg().end_request_delay_ms) + " ms");
      co_await request_sleep(r, std::chrono::milliseconds(cfg().end_request_delay_ms));
      if (closed) co_return;
    }
    if (send_end) out.push_back(make_record(fcgi::RecordType::EndRequest, r.id, end.content));
    if (!out.empty() && !co_await write_records(&r, std::move(out))) co_return;
    if (!send_end) {
      if (!r.end_sent) log(r.id, "end_request_withheld");
      if (!r.end_sent) co_return;  // never finished: no close either
    } else {
      r.end_sent = true;
      ++st->completed;
      log(r.id, "end_request_sent",
          "protocol_status=REQUEST_COMPLETE app_status=0 body_bytes=" +
              std::to_string(r.body_written) + (complete ? "" : " aborted"));
      fire(BackendEvent::end_request_sent, r.index, r.fired, r.id);
    }
    if (closed) co_return;
    // §5.1: FCGI_KEEP_CONN clear means the application closes the connection after the request.
    const auto policy = cfg().keep_conn;
    bool close_it = !r.keep_conn;
    if (policy == KeepConnPolicy::ignore_set && r.keep_conn) {
      log(r.id, "keep_conn_ignored", "closing although FCGI_KEEP_CONN is set");
      close_it = true;
    } else if (policy == KeepConnPolicy::ignore_clear && !r.keep_conn) {
      log(r.id, "keep_conn_ignored", "staying open although FCGI_KEEP_CONN is clear");
      close_it = false;
    }
    if (!close_it) co_return;
    if (!r.stdin_done && cfg().ignore_late_stdin_terminator) {
      // Go net/http/fcgi < 1.16: the connection stays open; a late empty STDIN is ignored.
      late_stdin.insert(r.id);
      co_return;
    }
    close_after_response(r.keep_conn ? "keep_conn set, ignored" : "keep_conn clear", r.stdin_done);
  }

  /// Closes once the request's input is consumed: at once if the stdin terminator was read,
  /// else after shutting down our side and draining input until the terminator, EOF or
  /// kLingerTime (the lingering close a correct application does). `linger: false` closes
  /// at once, unread input or not (Linux then sends RST: the uWSGI bug).
  void close_after_response(std::string_view why, bool input_complete) {
    if (closed || lingering) return;
    if (input_complete || !cfg().linger) {
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
    request_over(*r);
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

void Connection::fire_end_request(std::uint16_t id) {
  auto it = requests.find(id);
  if (it != requests.end())
    fire(BackendEvent::end_request_sent, it->second->index, it->second->fired, id);
}

void BackendState::request_over(std::uint32_t index) {
  if (!exit_index || *exit_index != index || stopped) return;
  exit_index.reset();
  // Posted: the exit closes every connection, maybe including the caller's.
  std::weak_ptr<BackendState> weak = shared_from_this();
  asio::post(io, [weak] {
    if (auto s = weak.lock()) s->exit_now();
  });
}

void BackendState::exit_now() {
  if (stopped) return;
  error_code ignored;
  if (!config.keep_listener && acceptor) {
    // Linux resets the connections still queued in the backlog of a closed listener.
    acceptor->close(ignored);
    acceptor.reset();
  }
  log(0, 0, "exited",
      "after " + std::to_string(config.exit_after_requests) + " requests; listener " +
          (config.keep_listener ? "kept" : "closed"));
  std::vector<std::shared_ptr<Connection>> open;
  for (auto& [n, weak] : connections)
    if (auto c = weak.lock()) open.push_back(std::move(c));
  for (auto& c : open) c->close("exited");
  if (config.respawn_after_ms) {
    respawn_timer.expires_after(std::chrono::milliseconds(*config.respawn_after_ms));
    std::weak_ptr<BackendState> weak = shared_from_this();
    respawn_timer.async_wait([weak](error_code ec) {
      auto s = weak.lock();
      if (!ec && s) s->respawn();
    });
  }
}

void BackendState::respawn() {
  if (stopped) return;
  if (!acceptor) {
    try {
      acceptor.emplace(net::listen(io.get_executor(), bound));
      apply_receive_buffer(*acceptor);
    } catch (const std::exception& e) {
      log(0, 0, "respawn_failed", e.what());
      return;
    }
  }
  life_begun = 0;
  accepting = true;
  resume_accepting.cancel();
  log(0, 0, "respawned", bound.to_string());
}

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
    if (!c->closed && !c->write_shut && (complete || r->aborted)) {
      co_await c->end_request(*r, complete);
    } else if (c->write_shut) {
      c->log(r->id, "response_abandoned", "our side was shut down");
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
    while (co_await c->gate(false)) {
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
            auto r = it->second;
            it = c->requests.erase(it);
            c->request_over(*r);
          } else {
            it->second->wake.cancel();
            ++it;
          }
        }
        if (c->requests.empty() || c->write_shut) c->close("peer_closed");
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
        if (!co_await c->gate(false)) break;
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
          answer.emplace_back(name, std::to_string(cfg().max_conns));
        } else if (name == fcgi::kMaxReqs) {
          answer.emplace_back(name, std::to_string(cfg().max_reqs));
        } else if (name == fcgi::kMpxsConns) {
          answer.emplace_back(name, cfg().mpxs_conns ? "1" : "0");
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
  late_stdin.erase(rec.request_id);
  const std::uint32_t index = ++st->begun;
  indices[index] = rec.request_id;
  log(rec.request_id, "begin_request",
      "role=" + std::to_string(b.role) + " flags=" + std::to_string(b.flags) +
          " keep_conn=" + (b.keep_conn() ? "1" : "0") + " index=" + std::to_string(index));
  if (cfg().exit_after_requests && ++st->life_begun == cfg().exit_after_requests) {
    // PHP_FCGI_MAX_REQUESTS: the last request of this life; accept no more connections.
    st->exit_index = index;
    st->stop_accepting("exit after request " + std::to_string(index));
  }
  std::vector<bool> fired(cfg().faults.size(), false);
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
    st->request_over(index);
    return;
  }
  if (!cfg().mpxs_conns && !requests.empty()) {
    // §5.5 FCGI_CANT_MPX_CONN: one request at a time on this connection.
    log(rec.request_id, "cant_mpx_conn");
    spawn(ex,
          send_reply(shared_from_this(),
                     fcgi::encode_record(fcgi::make_end_request(rec.request_id, 0,
                                                                fcgi::ProtocolStatus::CantMpxConn))
                         .value(),
                     false));
    st->request_over(index);
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
    if (late_stdin.count(rec.request_id) && rec.is(fcgi::RecordType::Stdin)) {
      if (rec.content.empty()) {
        late_stdin.erase(rec.request_id);
        log(rec.request_id, "stdin_terminator_ignored",
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
      log(r->id, "params_complete", "count=" + std::to_string(r->params.size()));
      fire(BackendEvent::params_complete, r->index, r->fired, r->id);
      if (closed || r->responding) return;
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
      fire_stdin(*r);
    } else {
      r->stdin_done = true;
      log(r->id, "stdin_terminator_received", "bytes=" + std::to_string(r->stdin_bytes));
      fire(BackendEvent::stdin_terminator_received, r->index, r->fired, r->id);
      r->wake.cancel();
    }
  } else if (rec.is(fcgi::RecordType::AbortRequest)) {
    // §5.4: the application answers an abort with END_REQUEST.
    log(r->id, "abort_request");
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

asio::awaitable<void> accept_loop(std::shared_ptr<State> st) {
  while (!st->stopped) {
    if (!st->accepting || !st->acceptor) {
      // Exited or exiting: connections wait in the backlog (or are refused) until respawn.
      st->resume_accepting.expires_at(Clock::time_point::max());
      co_await st->resume_accepting.async_wait(kAwait);
      continue;
    }
    if (st->config.workers > 0 && st->connections.size() >= st->config.workers) {
      // All workers busy: leave new connections in the kernel's backlog, unaccepted.
      st->worker_free.expires_at(Clock::time_point::max());
      co_await st->worker_free.async_wait(kAwait);
      continue;
    }
    auto [ec, socket] = co_await st->acceptor->async_accept(kAwait);
    if (st->stopped) break;
    if (ec) {
      if (!st->accepting) continue;  // stop_accepting() cancelled it
      st->log(0, 0, "accept_error", ec.message());
      // Back off briefly (EMFILE and the like) instead of spinning.
      st->accept_backoff.expires_after(std::chrono::milliseconds(10));
      co_await st->accept_backoff.async_wait(kAwait);
      continue;
    }
    net::set_no_delay(socket);
    st->apply_receive_buffer(socket);
    const std::uint32_t number = ++st->connections_accepted;
    auto c = std::make_shared<Connection>(st, std::move(socket), number);
    st->connections.emplace(number, c);
    st->log(number, 0, "accepted");
    const auto ex = c->ex;  // not c->ex in the call: the argument moves c
    spawn(ex, read_loop(std::move(c)));
  }
}

// A `bus` fault: which connection it acts on. Request N's connection when `request: N`
// is given; else the connection of a backend event; else the newest open connection.
void on_bus_fault(const std::shared_ptr<State>& st, std::size_t i, const events::Event& e) {
  if (st->stopped) return;
  const auto& f = st->config.faults[i];
  std::shared_ptr<Connection> target;
  std::uint16_t id = 0;
  for (auto it = st->connections.rbegin(); it != st->connections.rend() && !target; ++it) {
    auto c = it->second.lock();
    if (!c || c->closed) continue;
    if (f.request_index) {
      auto found = c->indices.find(*f.request_index);
      if (found == c->indices.end()) continue;
      id = found->second;
    } else if (e.party == "backend" && e.connection) {
      if (c->number != e.connection) continue;
      id = e.request_id;
    } else if (!c->requests.empty()) {
      id = c->requests.rbegin()->first;
    }
    target = c;
  }
  if (!target) {
    st->log(0, 0, "fault_skipped", "at=event " + f.event + ": no open connection to act on");
    return;
  }
  if (target->bus_fired[i]) return;
  target->bus_fired[i] = true;
  target->trigger(f, BackendEvent::bus, id);
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
  st.apply_receive_buffer(*st.acceptor);
  st.bound = net::local_address(*st.acceptor, st.config.listen);
  st.started = true;
  if (st.config.bus) {
    for (std::size_t i = 0; i < st.config.faults.size(); ++i) {
      const auto& f = st.config.faults[i];
      if (f.at != BackendEvent::bus) continue;
      std::weak_ptr<BackendState> weak = state_;
      st.subscriptions.push_back(st.config.bus->subscribe(events::Selector::parse(f.event),
                                                          [weak, i](const events::Event& e) {
                                                            if (auto s = weak.lock())
                                                              on_bus_fault(s, i, e);
                                                          }));
    }
  }
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
  st.resume_accepting.cancel();
  st.worker_free.cancel();
  st.respawn_timer.cancel();
  if (st.config.bus)
    for (int id : st.subscriptions) st.config.bus->unsubscribe(id);
  st.subscriptions.clear();
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
