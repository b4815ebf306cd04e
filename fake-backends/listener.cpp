// The fake backend's listener: binding, accepting (within `workers`), stopping, and the
// ListenerSeam through which faults/lifetime.cpp plays the process lifetime (exits after N
// requests, respawns).
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "events/harness_events.hpp"
#include "fake-backends/backend.hpp"
#include "fake-backends/backend_events.hpp"

namespace fh::fake {

namespace {
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
}  // namespace

void spawn(const asio::any_io_executor& ex, asio::awaitable<void> coroutine) {
  asio::co_spawn(ex, std::move(coroutine), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);  // never silently: io_context::run reports it
  });
}

BackendState::BackendState(asio::io_context& io_context, BackendConfig cfg)
    : io(io_context),
      config(std::move(cfg)),
      bus(config.bus ? *config.bus : private_bus),
      accept_backoff(io_context),
      accepting_resumed(io_context),
      worker_free(io_context),
      lifetime(config.lifetime, *this) {}

void BackendState::publish(const events::EventDecl& decl, std::uint32_t connection,
                           std::uint16_t request_id, std::string detail, std::string_view part) {
  if (in_readiness) return;  // not the scenario's
  const auto now = Clock::now();
  // Recorded before publishing: a subscriber may act and log in turn.
  entries.push_back(BackendLogEntry{now, connection, request_id, decl.member(part), detail});
  bus.publish(events::Event::of(decl, now, connection, request_id, 0, std::move(detail), part));
}

void BackendState::internal_error(const std::string& where, const std::string& what) {
  bus.publish(events::harness_events::internal_error, 0, 0, 0,
              "fake backend " + where + ": " + what);
}

void BackendState::stop_accepting(std::string why) {
  if (!accepting) return;
  accepting = false;
  boost::system::error_code ignored;
  // Pending accepts end; new connections wait in the listen backlog.
  if (acceptor) acceptor->cancel(ignored);
  publish(lifetime_events::accepting_stopped, 0, 0, std::move(why));
}

void BackendState::resume_accepting() {
  accepting = true;
  accepting_resumed.cancel();
}

void BackendState::close_listener() {
  boost::system::error_code ignored;
  if (acceptor) acceptor->close(ignored);
  acceptor.reset();
}

std::string BackendState::listen_again() {
  if (acceptor) return {};
  try {
    acceptor.emplace(net::listen(io.get_executor(), bound));
    apply_receive_buffer(*acceptor);
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

void BackendState::close_connections(std::string_view why) {
  std::vector<std::shared_ptr<Connection>> open;
  for (auto& [n, weak] : connections)
    if (auto c = weak.lock()) open.push_back(std::move(c));
  for (auto& c : open) c->close_connection(why, false);
}

void BackendState::post(std::function<void()> action) {
  std::weak_ptr<BackendState> weak = shared_from_this();
  asio::post(io, [weak, action = std::move(action)] {
    if (auto s = weak.lock(); s && !s->stopped()) action();
  });
}

void BackendState::after(std::chrono::milliseconds delay, std::function<void()> action) {
  auto& timer = timers.emplace_back(io, delay);
  std::weak_ptr<BackendState> weak = shared_from_this();
  timer.async_wait([weak, action = std::move(action)](boost::system::error_code ec) {
    auto s = weak.lock();
    if (!ec && s && !s->stopped()) action();
  });
}

void BackendState::publish(const events::EventDecl& event, std::string detail) {
  publish(event, 0, 0, std::move(detail));
}

asio::awaitable<void> accept_loop(std::shared_ptr<BackendState> st) {
  while (!st->stopped()) {
    if (!st->accepting || !st->acceptor) {
      // Exited or exiting: connections wait in the backlog (or are refused) until respawn.
      st->accepting_resumed.expires_at(Clock::time_point::max());
      co_await st->accepting_resumed.async_wait(kAwait);
      continue;
    }
    if (!st->lifetime.may_accept(st->connections.size())) {
      // All workers busy: leave new connections in the kernel's backlog, unaccepted.
      st->worker_free.expires_at(Clock::time_point::max());
      co_await st->worker_free.async_wait(kAwait);
      continue;
    }
    auto [ec, socket] = co_await st->acceptor->async_accept(kAwait);
    if (st->stopped()) break;
    if (ec) {
      if (!st->accepting) continue;  // stop_accepting() cancelled it
      st->publish(backend_events::accept_error, 0, 0, ec.message());
      // Back off briefly (EMFILE and the like) instead of spinning.
      st->accept_backoff.expires_after(std::chrono::milliseconds(10));
      co_await st->accept_backoff.async_wait(kAwait);
      continue;
    }
    net::set_no_delay(socket);
    st->apply_receive_buffer(socket);
    const std::uint32_t number = ++st->connections_accepted;
    auto c = std::make_shared<Connection>(st, std::move(socket), number);
    c->readiness = st->in_readiness;
    st->connections.emplace(number, c);
    st->publish(backend_events::accepted, number, 0);
    const auto ex = c->ex;  // not c->ex in the call: the argument moves c
    spawn(ex, read_loop(std::move(c)));
  }
}

void BackendState::start() {
  acceptor.emplace(net::listen(io.get_executor(), config.listen));
  apply_receive_buffer(*acceptor);
  bound = net::local_address(*acceptor, config.listen);
  phase = Phase::serving;
  arm_bus_faults();
  spawn(io.get_executor(), accept_loop(shared_from_this()));
}

void BackendState::stop() {
  if (phase == Phase::stopped) return;
  const bool started = phase == Phase::serving;
  phase = Phase::stopped;
  boost::system::error_code ignored;
  if (acceptor) acceptor->close(ignored);
  accept_backoff.cancel();
  accepting_resumed.cancel();
  worker_free.cancel();
  for (auto& t : timers) t.cancel();
  for (int id : subscriptions) bus.unsubscribe(id);
  subscriptions.clear();
  if (started && !bound.is_tcp()) ::unlink(bound.path.c_str());
  close_connections("stopped");
  connections.clear();
}

}  // namespace fh::fake
