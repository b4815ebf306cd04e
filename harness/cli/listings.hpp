// What `fcgi-harness list --peers | --events | --faults` prints: the vocabulary a scenario
// may use, from the declarations themselves (scenario/vocabulary.hpp, peers/).
#pragma once

#include <ostream>

namespace fh::cli {

/// The real gateways and backends: installed or not, version, apt package, knobs.
void print_peers(std::ostream& out);
/// Every declared event by party: name, what it needs to be seen, meaning, value, detail.
void print_events(std::ostream& out);
/// Every fault family by party: where its keys go, its verbs and keys, its events, its doc.
void print_faults(std::ostream& out);

}  // namespace fh::cli
