// When the fake backend's faults act: the one trigger grammar (language/trigger.hpp) applied
// to the backend. Scopes:
//   - its own request events (begin_request, params_complete, stdin_terminator_received,
//     headers_sent, end_request_sent) and its counters (body_bytes, stdin_bytes): each
//     request, acting inside the handler that published the event or wrote the byte;
//   - `accepted`: each connection (`request: N` is then the Nth connection);
//   - any other event (another party's, or the backend's connection-level ones): on the bus,
//     each connection once: request N's connection when `request: N` is given, else the
//     connection of a backend event, else the newest open connection.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fake-backends/backend.hpp"
#include "fake-backends/backend_events.hpp"

namespace fh::fake {

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

bool is_own_request_event(const language::Trigger& t) {
  using namespace backend_events;
  for (const auto* decl : {&begin_request, &params_complete, &stdin_terminator_received,
                           &headers_sent, &end_request_sent, &accepted})
    if (t.is(*decl)) return true;
  return false;
}

asio::awaitable<void> delayed_fault(std::shared_ptr<Connection> c, std::size_t fault,
                                    std::uint16_t id) {
  auto timer = std::make_shared<asio::steady_timer>(c->ex);
  c->fault_timers.insert(timer);
  timer->expires_after(std::chrono::milliseconds(c->cfg().faults[fault].at.delay_ms));
  auto [ec] = co_await timer->async_wait(kAwait);
  c->fault_timers.erase(timer);
  if (!ec) c->act(fault, id);
}

// A fault on a bus event: which connection it acts on (see the top of this file).
void on_bus_fault(const std::shared_ptr<BackendState>& st, std::size_t i, const events::Event& e) {
  if (st->stopped()) return;
  const auto& f = st->config.faults[i];
  std::shared_ptr<Connection> target;
  std::uint16_t id = 0;
  for (auto it = st->connections.rbegin(); it != st->connections.rend() && !target; ++it) {
    auto c = it->second.lock();
    if (!c || c->closed()) continue;
    if (f.at.request) {
      auto found = c->indices.find(*f.at.request);
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
    st->publish(backend_events::fault_skipped, 0, 0,
                "at=" + f.at.to_string("backend") + ": no open connection to act on");
    return;
  }
  if (target->connection_triggers[i].offer_event(f.at, e)) target->trigger(i, id);
}

}  // namespace

void BackendState::arm_bus_faults() {
  for (std::size_t i = 0; i < config.faults.size(); ++i) {
    const auto& f = config.faults[i];
    if (f.at.kind != language::Trigger::Kind::event || is_own_request_event(f.at)) continue;
    std::weak_ptr<BackendState> weak = shared_from_this();
    subscriptions.push_back(bus.subscribe(f.at.event, [weak, i](const events::Event& e) {
      if (auto s = weak.lock()) on_bus_fault(s, i, e);
    }));
  }
}

void Connection::offer(const events::EventDecl& decl, std::vector<language::TriggerState>& states,
                       std::uint32_t scope_index, std::uint16_t id) {
  const auto& faults = cfg().faults;
  const auto event = events::Event::of(decl, Clock::now(), number, id);
  for (std::size_t i = 0; i < faults.size() && !closed(); ++i) {
    const auto& t = faults[i].at;
    if (!t.is(decl) || !t.applies_to(scope_index)) continue;
    if (states[i].offer_event(t, event)) trigger(i, id);
  }
}

void Connection::offer_body(Request& r, bool mid_record) {
  const auto& faults = cfg().faults;
  for (std::size_t i = 0; i < faults.size() && !closed(); ++i) {
    const auto& t = faults[i].at;
    if (!t.is(language::Counter::body_bytes) || !t.applies_to(r.index)) continue;
    if (t.mid_record && !mid_record) continue;  // acts only where a write ends mid-record
    if (r.triggers[i].offer_counter(t, language::Counter::body_bytes, r.body_written))
      trigger(i, r.id);
  }
}

void Connection::offer_stdin(Request& r) {
  const auto& faults = cfg().faults;
  for (std::size_t i = 0; i < faults.size() && !closed(); ++i) {
    const auto& t = faults[i].at;
    if (!t.applies_to(r.index)) continue;
    if (r.triggers[i].offer_counter(t, language::Counter::stdin_bytes, r.stdin_bytes))
      trigger(i, r.id);
  }
}

std::uint64_t Connection::body_split(const Request& r, std::uint64_t at,
                                     std::uint64_t limit) const {
  const auto& faults = cfg().faults;
  for (std::size_t i = 0; i < faults.size(); ++i) {
    const auto& t = faults[i].at;
    if (r.triggers[i].fired() || t.mid_record || !t.is(language::Counter::body_bytes) ||
        !t.applies_to(r.index))
      continue;
    if (t.amount > at && t.amount < limit) limit = t.amount;
  }
  return limit;
}

std::vector<std::uint64_t> Connection::mid_record_thresholds(const Request& r, std::uint64_t from,
                                                             std::uint64_t to) const {
  std::vector<std::uint64_t> out;
  const auto& faults = cfg().faults;
  for (std::size_t i = 0; i < faults.size(); ++i) {
    const auto& t = faults[i].at;
    if (r.triggers[i].fired() || !t.mid_record || !t.applies_to(r.index)) continue;
    if (t.amount >= from && t.amount < to) out.push_back(t.amount);
  }
  return out;
}

void Connection::trigger(std::size_t fault, std::uint16_t id) {
  if (cfg().faults[fault].at.delay_ms == 0) {
    act(fault, id);  // synchronously: nothing else happens on the connection first
  } else {
    spawn(ex, delayed_fault(shared_from_this(), fault, id));
  }
}

void Connection::act(std::size_t fault, std::uint16_t id) {
  if (closed()) return;
  const auto& f = cfg().faults[fault];
  log(id, backend_events::fault, "at=" + f.at.to_string("backend") + f.action->parameters(),
      f.verb->doc.name);
  f.action->act(*this, id);
}

}  // namespace fh::fake
