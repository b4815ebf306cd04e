// The JSON Schema of the scenario format, made from the same declarations the loader checks
// against (events, fault families, the peers' kinds), so editors with the YAML language server
// complete and check scenario files: `fcgi-harness schema > scenario.schema.json`, and a
// scenario's first line `# yaml-language-server: $schema=<path>/scenario.schema.json`.
// The loader stays the judge (it also checks what a schema cannot: event names against the
// topology, ranges that depend on other keys); the schema is what an editor can know.
#pragma once

#include <nlohmann/json.hpp>

namespace fh::scenario {

nlohmann::json scenario_schema();

}  // namespace fh::scenario
