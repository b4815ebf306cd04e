// How a fault family describes itself, the same way for every party: its verbs (the values of
// `do:`) and keys with the shape of their values, its documentation, and the events it
// publishes. From these descriptions come `fcgi-harness list --faults`, the JSON Schema of
// `fcgi-harness schema`, and the test that docs/ name only what exists. The behaviour (the
// reader of the keys and the action) lives beside the description in the family's own file.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "events/declaration.hpp"
#include "language/trigger.hpp"

namespace fh::language {

/// The shape of a key's value: a short text for people and its JSON Schema for editors.
struct Shape {
  std::string text;  // "ms", "size", "true|false", "0-255 | align8", ...
  nlohmann::json schema;
};

struct Key;

namespace shapes {
Shape boolean();
Shape ms();    // milliseconds, 0 .. 24 h
Shape size();  // bytes: 1024, 64KiB, 16MiB
Shape integer(std::uint64_t min, std::uint64_t max);
Shape text();
Shape choice(std::vector<std::string> values);  // one of these words
/// An event: party.name, or with `own_party` also a bare name of that party's events.
Shape event(std::string_view own_party = {});
Shape list_of(const Shape& item);
Shape either(std::vector<Shape> shapes);  // any one of these shapes
/// A mapping with exactly these keys (those in `required` must be there).
Shape mapping(const std::vector<Key>& keys, std::vector<std::string> required = {});
Shape any();
}  // namespace shapes

struct Key {
  std::string name;
  Shape shape;
  std::string doc;  // one line
};

struct Verb {
  std::string name;       // the value of `do:`
  std::string doc;        // one line
  std::vector<Key> keys;  // keys of its own, beside do: and the trigger's
};

/// What a fault family is, for listing, schema and documentation.
struct FamilyDoc {
  std::string party;         // "backend", "gateway", "client", "process", "syscall"
  std::string name;          // "closing"
  std::string title;         // "Closing (FIN or RST) at any point"
  std::string doc;           // a paragraph (Markdown)
  std::string where;         // where its keys are written: "topology.backend", ".faults[]", ...
  std::vector<Verb> verbs;   // values of `do:` (empty for a family of keys only)
  std::vector<Key> keys;     // keys it reads at `where`
  events::EventList events;  // what it publishes
};

/// The keys of the trigger grammar under `rules`, for schemas and listings.
std::vector<Key> trigger_keys(const TriggerRules& rules);

}  // namespace fh::language
