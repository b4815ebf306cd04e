// The scenario loader on any text: a malformed file is a ScenarioError naming file:line:column
// (docs/architecture.md, "The scenario language checks itself"), never a crash, a hang or
// another exception escaping. Anything but ScenarioError escapes this target on purpose:
// libFuzzer reports it as a crash.
#include <cstdint>
#include <string>

#include "language/source_mark.hpp"
#include "scenario/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  try {
    (void)fh::scenario::load_text(yaml, "fuzz.yaml");
  } catch (const fh::language::ScenarioError&) {
    // The expected answer to most inputs.
  }
  return 0;
}
