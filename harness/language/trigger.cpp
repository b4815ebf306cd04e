#include "language/trigger.hpp"

#include <algorithm>

#include "language/event_names.hpp"

namespace fh::language {

using namespace yaml;

std::string_view counter_name(Counter counter) {
  switch (counter) {
    case Counter::body_bytes:
      return "body_bytes";
    case Counter::stdin_bytes:
      return "stdin_bytes";
    case Counter::request_body_bytes:
      return "request_body_bytes";
  }
  return "?";
}

Trigger Trigger::on(const events::EventDecl& decl) {
  Trigger t;
  t.kind = Kind::event;
  t.event = events::Selector::of(decl);
  return t;
}

Trigger Trigger::counting(Counter counter, std::uint64_t amount) {
  Trigger t;
  t.kind = Kind::counter;
  t.counter = counter;
  t.amount = amount;
  return t;
}

bool Trigger::is(const events::EventDecl& decl) const {
  return kind == Kind::event && event.party == decl.party && event.name == decl.name;
}

std::string Trigger::to_string(std::string_view own_party) const {
  std::string out;
  switch (kind) {
    case Kind::event:
      out = own_party == event.party ? event.name : event.to_string();
      if (nth != 1) out += " #" + std::to_string(nth);
      break;
    case Kind::counter:
      out = std::string(counter_name(counter)) + ":" + std::to_string(amount);
      if (mid_record) out += " mid-record";
      break;
    case Kind::elapsed:
      out = "after_ms:" + std::to_string(amount);
      break;
    case Kind::standing:
      out = "start";
      break;
  }
  if (request) out += " request " + std::to_string(*request);
  if (delay_ms) out += " + " + std::to_string(delay_ms) + " ms";
  return out;
}

namespace {

const std::vector<Counter> kCounters = {Counter::body_bytes, Counter::stdin_bytes,
                                        Counter::request_body_bytes};

std::string forms_of(const TriggerRules& rules) {
  std::string out = rules.party.empty() ? "party.event" : "an event name or party.event";
  for (auto c : rules.counters) out += ", {" + std::string(counter_name(c)) + ": N}";
  if (rules.elapsed) out += ", {after_ms: N}";
  return out;
}

void read_at_map(const YAML::Node& at, const std::string& file, const TriggerRules& rules,
                 Trigger& t) {
  MapReader a(at, file, rules.what + " at");
  a.retired("event",
            "write the event itself as the value of 'at' (at: party.name; nth: K "
            "beside it)");
  a.retired("request_count", "write 'at: begin_request' with 'request: N' beside it");
  int forms = 0;
  for (auto c : kCounters) {
    const std::string key(counter_name(c));
    if (!a.peek(key).IsDefined()) continue;
    if (std::find(rules.counters.begin(), rules.counters.end(), c) == rules.counters.end())
      throw ScenarioError(a.key_mark(key), rules.what + " at: a " + rules.what +
                                               " does not count " + key + "; it takes " +
                                               forms_of(rules));
    t.kind = Trigger::Kind::counter;
    t.counter = c;
    t.amount = as_size(a.get(key), file, key);
    if (c == Counter::stdin_bytes && t.amount == 0)
      bad_value(a.get(key), file, key, "at least 1 byte");
    ++forms;
  }
  if (rules.elapsed && a.has("after_ms")) {
    t.kind = Trigger::Kind::elapsed;
    t.amount = as_ms(a.get("after_ms"), file, "after_ms");
    ++forms;
  }
  if (rules.mid_record && a.has("mid_record")) {
    t.mid_record = as_bool(a.get("mid_record"), file, "mid_record");
    if (!t.is(Counter::body_bytes))
      throw ScenarioError(a.key_mark("mid_record"), "mid_record only applies to {body_bytes: N}");
  }
  a.finish();
  if (forms != 1)
    throw ScenarioError(mark_of(at, file),
                        rules.what + " at: give exactly one of " + forms_of(rules));
}

}  // namespace

Trigger read_trigger(MapReader& action, const TriggerRules& rules) {
  const auto& file = action.file();
  action.retired("after", "write 'at:' (one trigger grammar: at, nth, delay_ms)");
  if (rules.mid_record)
    action.retired("mid_record",
                   "write it into the counter: at: {body_bytes: N, mid_record: true}");
  Trigger t;
  const auto at = action.get("at");
  if (!at.IsDefined() || at.IsNull()) {
    if (rules.default_text.empty())
      throw ScenarioError(action.mark(), action.context() + ": missing required key 'at' (" +
                                             forms_of(rules) + ")");
    t.kind = Trigger::Kind::standing;
    t.mark = action.mark();
  } else if (at.IsMap()) {
    t.mark = mark_of(at, file);
    read_at_map(at, file, rules, t);
  } else {
    t.mark = mark_of(at, file);
    t.kind = Trigger::Kind::event;
    t.event = read_event_name(at, file, rules.what + " at",
                              EventNameRules{rules.party, false, /*trigger=*/true});
  }
  if (action.has("nth")) {
    if (t.kind != Trigger::Kind::event)
      throw ScenarioError(action.key_mark("nth"), "nth: only with at: an event");
    const auto n = as_uint(action.get("nth"), file, "nth", 1000000);
    if (n == 0) bad_value(action.get("nth"), file, "nth", "a count from 1");
    t.nth = static_cast<std::uint32_t>(n);
  }
  if (action.peek("request").IsDefined()) {
    if (!rules.request)
      throw ScenarioError(action.key_mark("request"),
                          "request: does not apply to a " + rules.what +
                              " (it acts on its own request or the whole run)");
    const auto n = as_uint(action.get("request"), file, "request", UINT32_MAX);
    if (n == 0) bad_value(action.get("request"), file, "request", "a 1-based request number");
    t.request = static_cast<std::uint32_t>(n);
  }
  if (action.has("delay_ms")) t.delay_ms = as_ms(action.get("delay_ms"), file, "delay_ms");
  return t;
}

bool TriggerState::offer_event(const Trigger& trigger, const events::Event& event) {
  if (fired_ || !trigger.selects(event)) return false;
  if (++seen_ < trigger.nth) return false;
  fired_ = true;
  return true;
}

bool TriggerState::offer_counter(const Trigger& trigger, Counter counter, std::uint64_t value) {
  if (fired_ || !trigger.is(counter) || value < trigger.amount) return false;
  fired_ = true;
  return true;
}

bool TriggerState::fire_now() {
  if (fired_) return false;
  fired_ = true;
  return true;
}

}  // namespace fh::language
