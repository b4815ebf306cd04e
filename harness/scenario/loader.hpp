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

/// Overrides from the command line, as YAML mappings merged like a variant's `set`.
struct LoadOptions {
  /// --set: merged into every scenario (after its variant), e.g.
  /// "topology: {gateway: {knobs: {fastcgi_buffering: 'off'}}}".
  std::vector<std::string> set;
  /// --matrix NAME=YAML: every scenario runs once per entry, named id[variant+NAME].
  std::vector<std::pair<std::string, std::string>> matrix;
};

/// Loads one file. A scenario with variants yields one Scenario per variant, in file order
/// (times the matrix entries, when given).
std::vector<Scenario> load_file(const std::filesystem::path& file, const LoadOptions& options = {});

/// Loads YAML text as if it were the named file (tests, stdin).
std::vector<Scenario> load_text(const std::string& yaml, const std::string& file_name,
                                const LoadOptions& options = {});

/// "16MiB", "1 KiB", "100", 100 → bytes. Exposed for tests.
std::optional<std::uint64_t> parse_size(const std::string& text);

}  // namespace fh::scenario
