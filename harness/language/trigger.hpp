// "When does this act": the one trigger grammar of the scenario language, its one reader and
// its one matcher. Backend faults, gateway timing keys (a late empty STDIN, an abort), client
// actions and process faults on real programs all say when they act with the same keys,
// written beside the action they start:
//
//   at: params_complete                 an event of the acting party (a bare name), or
//   at: gateway.stdin_terminator_sent   any party's event on the run's bus, or
//   at: {body_bytes: 4096}              a counter reaching N (which counters: the party's), or
//   at: {after_ms: 150}                 a time after the first request started (process faults)
//   nth: 2                              the 2nd occurrence in the action's scope (default 1st)
//   request: 2                          the request it applies to (backend faults)
//   delay_ms: 50                        act this long after the trigger
//
// An action fires at most once per scope; the scope is the acting party's unit: a request
// (backend faults, gateway plans, client actions), a connection (the backend's `accepted` and
// its faults on other parties' events) or the run (process faults).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/bus.hpp"
#include "language/yaml_reader.hpp"

namespace fh::language {

/// What a counter trigger counts, named by the stream it counts in.
enum class Counter {
  body_bytes,          // response body bytes (the backend: written; the client: received)
  stdin_bytes,         // request body as FastCGI STDIN (the backend: read; the gateway: sent)
  request_body_bytes,  // request body bytes the client wrote
};
std::string_view counter_name(Counter counter);

struct Trigger {
  /// `standing`: `at` was left out where the party has a default point (TriggerRules).
  enum class Kind { event, counter, elapsed, standing };
  Kind kind = Kind::event;
  events::Selector event;  // Kind::event: party and name, the party always filled in
  Counter counter = Counter::body_bytes;
  std::uint64_t amount = 0;              // Kind::counter: the count; Kind::elapsed: milliseconds
  std::uint32_t nth = 1;                 // Kind::event: the occurrence in the scope, 1-based
  std::optional<std::uint32_t> request;  // the request it applies to, 1-based
  std::uint32_t delay_ms = 0;
  bool mid_record = false;  // body_bytes of the backend: act inside the record holding byte N
  SourceMark mark;          // where `at` was written

  static Trigger on(const events::EventDecl& decl);
  static Trigger counting(Counter counter, std::uint64_t amount);

  /// An event trigger on exactly this declaration.
  bool is(const events::EventDecl& decl) const;
  bool is(Counter c) const { return kind == Kind::counter && counter == c; }
  /// An event trigger whose event `e` is.
  bool selects(const events::Event& e) const { return kind == Kind::event && event.matches(e); }
  /// `request: N` says N, or nothing: the trigger applies to the request of this index.
  bool applies_to(std::uint32_t request_index) const {
    return !request || *request == request_index;
  }

  /// "params_complete", "gateway.stdin_terminator_sent #2", "body_bytes:4096 mid-record",
  /// "after_ms:150"; with `own_party`, that party's events without the party.
  std::string to_string(std::string_view own_party = {}) const;
};

/// Which forms of the grammar an acting party takes.
struct TriggerRules {
  std::string_view party;         // bare event names are this party's
  std::string what;               // "backend fault", for messages
  std::vector<Counter> counters;  // the counters it counts
  bool request = false;           // `request:` applies
  bool elapsed = false;           // {after_ms: N} applies
  bool mid_record = false;        // `mid_record: true` in {body_bytes: N} applies
  /// When `at` may be left out: what the action then starts at ("connected"); a Kind::standing
  /// trigger is returned, which the party starts at that point.
  std::string default_text;
};

/// Reads `at`, `nth`, `request` and `delay_ms` of the action mapping `action` (the action's
/// own keys are its reader's). Spellings of the older grammars are errors showing the new
/// one. Event names go through read_event_name (checked against the declarations later).
Trigger read_trigger(yaml::MapReader& action, const TriggerRules& rules);

/// The one matcher: a trigger in one scope. Feed it what happens in the scope; it says when
/// the action fires, exactly once.
class TriggerState {
 public:
  /// Something happened in the scope. Event triggers count the events they select (the
  /// caller filters by scope); counter triggers compare `value` of their counter.
  bool offer_event(const Trigger& trigger, const events::Event& event);
  bool offer_counter(const Trigger& trigger, Counter counter, std::uint64_t value);
  /// Fire now, whatever came before (elapsed timers, the party's own default anchors).
  bool fire_now();
  bool fired() const { return fired_; }

 private:
  std::uint32_t seen_ = 0;
  bool fired_ = false;
};

}  // namespace fh::language
