// A connection of the fake backend: closing (plain, reset, lingering), stalls, and the
// FaultSeam the fault families act on.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fake-backends/backend.hpp"
#include "fake-backends/backend_events.hpp"

namespace fh::fake {

namespace {
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// How long a lingering close drains unread input before it closes anyway.
constexpr auto kLingerTime = std::chrono::seconds(2);
}  // namespace

Connection::Connection(std::shared_ptr<BackendState> state, net::Socket sock, std::uint32_t n)
    : st(std::move(state)),
      socket(std::move(sock)),
      ex(socket.get_executor()),
      number(n),
      read_stall_timer(ex),
      write_stall_timer(ex),
      connection_triggers(st->config.faults.size()) {}

void Connection::close_connection(std::string_view why, bool reset) {
  if (closed()) return;
  phase = Phase::closed;
  boost::system::error_code ignored_ec;
  // A plain close(): FIN, or RST when input is still unread (Linux tcp_close), as a
  // crashing or exiting application does. SO_LINGER {1, 0} forces the RST.
  if (reset) socket.set_option(asio::socket_base::linger(true, 0), ignored_ec);
  socket.close(ignored_ec);
  if (linger_timer) linger_timer->cancel();
  read_stall_timer.cancel();
  write_stall_timer.cancel();
  for (auto& t : fault_timers) t->cancel();
  writer.cancel();
  for (int id : subscriptions) st->bus.unsubscribe(id);
  subscriptions.clear();
  std::vector<std::uint32_t> open;
  for (auto& [id, r] : requests) {
    r->wake.cancel();
    if (!r->over) open.push_back(r->index);
    r->over = true;
  }
  log(0, backend_events::connection_closed, std::string(why));
  st->connections.erase(number);
  st->worker_free.cancel();  // a `workers` slot is free
  for (auto index : open) st->request_over(index);
}

void Connection::request_over(Request& r) {
  if (r.over) return;
  r.over = true;
  st->request_over(r.index);
}

void Connection::finish(const std::shared_ptr<Request>& r) {
  auto it = requests.find(r->id);
  if (it != requests.end() && it->second == r) requests.erase(it);
  request_over(*r);
  if (peer_eof && requests.empty()) close_connection("peer_closed", false);
}

// At once if the stdin terminator was read, else after shutting down our side and draining
// input until the terminator, EOF or kLingerTime (the lingering close a correct application
// does: closing with unread input sends an RST that can destroy the response still in
// flight, the uWSGI truncation of shared/seeds). `linger: false` closes at once.
void Connection::close_after_response(std::string_view why, bool input_complete) {
  if (closed() || phase == Phase::lingering) return;
  if (input_complete || !cfg().policy.linger) {
    close_connection(why, false);
    return;
  }
  phase = Phase::lingering;
  linger_reason = why;
  boost::system::error_code ignored_ec;
  socket.shutdown(net::Socket::shutdown_send, ignored_ec);
  log(0, policy_events::lingering, "draining unread input before closing");
  linger_timer = std::make_shared<asio::steady_timer>(ex, kLingerTime);
  linger_timer->async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->close_connection(self->linger_reason + ", linger time over", false);
  });
}

// Only stall() and end_stall() move the timers, so several waiters never re-arm (and
// cancel) each other.
asio::awaitable<bool> Connection::gate(bool for_writing) {
  auto& until = for_writing ? write_stall_until : read_stall_until;
  auto& timer = for_writing ? write_stall_timer : read_stall_timer;
  while (!closed() && Clock::now() < until) co_await timer.async_wait(kAwait);
  co_return !closed();
}

void Connection::shutdown_write() {
  // FIN only: the peer reads EOF; we go on reading (and drain) until it closes.
  boost::system::error_code ignored_ec;
  socket.shutdown(net::Socket::shutdown_send, ignored_ec);
  if (phase == Phase::open) phase = Phase::shut;
}

void Connection::stall(bool reading, bool writing, Clock::time_point until) {
  // Timers, so stop() (close) cancels them; gate() callers re-check after every wake.
  if (reading) {
    read_stall_until = until;
    read_stall_timer.expires_at(until);
  }
  if (writing) {
    write_stall_until = until;
    write_stall_timer.expires_at(until);
  }
}

bool Connection::end_stall(bool reading, bool writing) {
  const auto now = Clock::now();
  bool ended = false;
  if (reading && read_stall_until > now) {
    read_stall_until = now;
    read_stall_timer.cancel();
    ended = true;
  }
  if (writing && write_stall_until > now) {
    write_stall_until = now;
    write_stall_timer.cancel();
    ended = true;
  }
  return ended;
}

void Connection::subscribe_while_open(const events::Selector& selector,
                                      std::function<void(const events::Event&)> on_event) {
  std::weak_ptr<Connection> weak = shared_from_this();
  subscriptions.push_back(
      st->bus.subscribe(selector, [weak, on_event = std::move(on_event)](const events::Event& e) {
        auto c = weak.lock();
        if (c && !c->closed()) on_event(e);
      }));
}

void Connection::queue_record(fcgi::Record record, const events::EventDecl& when_written,
                              std::string detail) {
  fcgi::Bytes out;
  fcgi::append_record(record, out);
  writer.queue(std::move(out), record.request_id, when_written, std::move(detail));
}

bool Connection::claim_end_request(std::uint16_t request_id) {
  auto it = requests.find(request_id);
  if (it != requests.end()) {
    if (it->second->end_sent()) return false;
    it->second->end = EndRequest::early;
  }
  ++st->completed;
  return true;
}

std::uint16_t Connection::inactive_request_id(std::uint16_t current) const {
  for (std::uint16_t id = 1; id < 0xffff; ++id)
    if (id != current && !requests.count(id)) return id;
  return 0xffff;
}

}  // namespace fh::fake
