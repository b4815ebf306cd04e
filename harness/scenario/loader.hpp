// Scenario files (YAML) → validated Scenario values. Any unknown key, wrong type or bad value
// is a ScenarioError naming file:line:column; nothing half-loaded escapes.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "scenario/model.hpp"

namespace fh::scenario {

class ScenarioError : public std::runtime_error {
 public:
  ScenarioError(SourceMark mark, const std::string& message)
      : std::runtime_error(mark.to_string() + ": " + message), mark_(std::move(mark)) {}
  const SourceMark& mark() const { return mark_; }

 private:
  SourceMark mark_;
};

/// Loads one file. A scenario with variants yields one Scenario per variant, in file order.
std::vector<Scenario> load_file(const std::filesystem::path& file);

/// Loads YAML text as if it were the named file (tests, stdin).
std::vector<Scenario> load_text(const std::string& yaml, const std::string& file_name);

/// "16MiB", "1 KiB", "100", 100 → bytes. Exposed for tests.
std::optional<std::uint64_t> parse_size(const std::string& text);

}  // namespace fh::scenario
