// The run's event bus: every party (client, gateway, backend, and later the observers)
// publishes what it did as named protocol events on one clock. Faults anchor on these events,
// barriers make one party wait for another's event, expectations query them, and the
// timeline prints them. Single-threaded like the run: publish() calls subscribers at once,
// inside the publisher's handler, so "close when the gateway sent the empty STDIN" acts
// before anything else happens on the loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "events/declaration.hpp"

namespace fh::events {

using Clock = std::chrono::steady_clock;

struct Event {
  Clock::time_point at;
  std::string party;                // "client", "gateway", "backend", ...
  std::string name;                 // "stdin_terminator_sent", "syscall:writev", ...
  std::uint32_t connection = 0;     // the party's own connection number (1-based), 0: none
  std::uint16_t request_id = 0;     // FastCGI request id, 0: none
  std::uint64_t value = 0;          // a count the event carries (bytes, records...), 0: none
  std::string detail;               // free text for people
  const EventDecl* decl = nullptr;  // what it is (party and name come from it)

  /// An event of `decl` (for a family, of its member `decl.name + part`).
  static Event of(const EventDecl& decl, Clock::time_point at, std::uint32_t connection = 0,
                  std::uint16_t request_id = 0, std::uint64_t value = 0, std::string detail = {},
                  std::string_view part = {});
};

/// Which events a subscriber or an expectation means. Empty party/name match any.
struct Selector {
  std::string party;
  std::string name;
  bool matches(std::string_view event_party, std::string_view event_name) const {
    return (party.empty() || party == event_party) && (name.empty() || name == event_name);
  }
  bool matches(const Event& e) const { return matches(e.party, e.name); }
  std::string to_string() const {
    return (party.empty() ? "*" : party) + "." + (name.empty() ? "*" : name);
  }
  /// "backend.params_complete" -> {backend, params_complete}; "params_complete" -> {"", ...}.
  static Selector parse(const std::string& text);
  /// The events of `decl` (of its member `part` for a family).
  static Selector of(const EventDecl& decl, std::string_view part = {}) {
    return Selector{std::string(decl.party), decl.member(part)};
  }
};

class Bus {
 public:
  using Callback = std::function<void(const Event&)>;

  explicit Bus(Clock::time_point origin = Clock::now()) : origin_(origin) {}

  /// Stamps `at` if unset, records the event, then calls every matching subscriber in
  /// subscription order. Subscribers may publish and (un)subscribe re-entrantly. An event
  /// without a declaration is a programming error (std::logic_error): nothing is published
  /// by a bare string.
  void publish(Event event);
  /// publish(Event::of(decl, now, ...)).
  void publish(const EventDecl& decl, std::uint32_t connection = 0, std::uint16_t request_id = 0,
               std::uint64_t value = 0, std::string detail = {});
  /// A member of an event family: `decl.name + part` ("fault:" + "close").
  void publish_member(const EventDecl& decl, std::string_view part, std::uint32_t connection = 0,
                      std::uint16_t request_id = 0, std::uint64_t value = 0,
                      std::string detail = {});

  /// Returns an id for unsubscribe(). The callback sees events published from now on.
  int subscribe(Selector selector, Callback callback);
  void unsubscribe(int id);

  /// The log keeps at most this many events (about 40 MB). Later events still reach every
  /// subscriber (faults and barriers keep working) and are counted by name in overflow(), not
  /// kept: a peer that floods the harness with records cannot exhaust its memory.
  static constexpr std::size_t kLogLimit = 200'000;

  const std::vector<Event>& log() const { return log_; }
  /// Events published after the log was full, by "party.name" (empty while it is not).
  const std::map<std::string, std::uint64_t>& overflow() const { return overflow_; }
  /// Matching events, the ones only counted in overflow() included.
  std::size_t count(const Selector& selector) const;
  /// The nth (1-based) matching event, or nullptr.
  const Event* nth(const Selector& selector, std::size_t n) const;
  Clock::time_point origin() const { return origin_; }
  double ms_since_origin(Clock::time_point t) const {
    return std::chrono::duration<double, std::milli>(t - origin_).count();
  }

 private:
  Clock::time_point origin_;
  std::vector<Event> log_;
  std::map<std::string, std::uint64_t> overflow_;
  std::map<int, std::pair<Selector, Callback>> subscribers_;
  int next_id_ = 1;
};

}  // namespace fh::events
