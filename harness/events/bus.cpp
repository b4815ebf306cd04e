#include "events/bus.hpp"

#include <stdexcept>

namespace fh::events {

Selector Selector::parse(const std::string& text) {
  const auto dot = text.find('.');
  if (dot == std::string::npos) return Selector{"", text};
  return Selector{text.substr(0, dot), text.substr(dot + 1)};
}

Event Event::of(const EventDecl& decl, Clock::time_point at, std::uint32_t connection,
                std::uint16_t request_id, std::uint64_t value, std::string detail,
                std::string_view part) {
  return Event{at,
               std::string(decl.party),
               decl.member(part),
               connection,
               request_id,
               value,
               std::move(detail),
               &decl};
}

void Bus::publish(Event event) {
  if (!event.decl)
    throw std::logic_error("event " + event.party + "." + event.name + " has no declaration");
  if (event.at == Clock::time_point{}) event.at = Clock::now();
  if (log_.size() < kLogLimit)
    log_.push_back(event);
  else
    ++overflow_[event.party + "." + event.name];
  // Copy the ids first: a subscriber may subscribe or unsubscribe while we iterate.
  std::vector<int> ids;
  for (const auto& [id, entry] : subscribers_)
    if (entry.first.matches(event)) ids.push_back(id);
  for (int id : ids) {
    auto it = subscribers_.find(id);
    if (it == subscribers_.end()) continue;
    auto callback = it->second.second;  // the callback may unsubscribe itself
    callback(event);
  }
}

void Bus::publish(const EventDecl& decl, std::uint32_t connection, std::uint16_t request_id,
                  std::uint64_t value, std::string detail) {
  publish(Event::of(decl, Clock::now(), connection, request_id, value, std::move(detail)));
}

void Bus::publish_member(const EventDecl& decl, std::string_view part, std::uint32_t connection,
                         std::uint16_t request_id, std::uint64_t value, std::string detail) {
  publish(Event::of(decl, Clock::now(), connection, request_id, value, std::move(detail), part));
}

int Bus::subscribe(Selector selector, Callback callback) {
  const int id = next_id_++;
  subscribers_.emplace(id, std::make_pair(std::move(selector), std::move(callback)));
  return id;
}

void Bus::unsubscribe(int id) {
  subscribers_.erase(id);
}

std::size_t Bus::count(const Selector& selector) const {
  std::size_t n = 0;
  for (const auto& e : log_)
    if (selector.matches(e)) ++n;
  for (const auto& [key, times] : overflow_) {  // "party.name"
    const std::string_view both = key;
    const auto dot = both.find('.');
    if (selector.matches(both.substr(0, dot), both.substr(dot + 1))) n += times;
  }
  return n;
}

const Event* Bus::nth(const Selector& selector, std::size_t n) const {
  for (const auto& e : log_)
    if (selector.matches(e) && --n == 0) return &e;
  return nullptr;
}

}  // namespace fh::events
