// What the loader knows while one scenario tree is read, for the readers deep inside it:
//  - where the overrides merged into the tree came from: a --set or --matrix text is parsed
//    with its lines moved past kOverrideLineBase * (k + 1), so a node's mark tells which text
//    it came from and an error names "--set #1:1:20" instead of a line of the file;
//  - every event name read (EventRef), which the loader checks against the declarations and
//    the topology once the whole scenario is known.
// Installed by the loader for the duration of one read (LoadScope); readers used outside a
// load (a fake's tests reading a fault list) see none and check nothing further.
#pragma once

#include <string>
#include <vector>

#include "events/bus.hpp"
#include "language/source_mark.hpp"

namespace fh::language {

/// An event a scenario names, as read; checked after the whole scenario was read.
struct EventRef {
  events::Selector selector;  // party always set
  SourceMark mark;
  std::string where;  // "backend fault at", "check that", ...
  /// A check that says it may judge nothing (`if_observable: true`): an event the topology
  /// cannot produce is then not an error; the check is reported as not judged.
  bool if_observable = false;
  /// Triggers name events to wait for; a trigger on an event that cannot happen never fires.
  bool trigger = false;
};

inline constexpr int kOverrideLineBase = 100000;

struct LoadContext {
  std::string file;                    // the scenario file
  std::vector<std::string> overrides;  // "--set #1", "--matrix srb0": names of merged texts
  std::vector<EventRef> events;        // every event name read, in reading order

  /// The mark of a YAML position (0-based line and column), mapped to its text.
  SourceMark mark(int line0, int column0) const;
  static LoadContext* current();
};

/// Installs a context for the current thread while it lives.
class LoadScope {
 public:
  explicit LoadScope(LoadContext& context);
  ~LoadScope();
  LoadScope(const LoadScope&) = delete;
  LoadScope& operator=(const LoadScope&) = delete;

 private:
  LoadContext* previous_;
};

}  // namespace fh::language
