// Scenario files (YAML) → validated Scenario values. Any unknown key, wrong type or bad value
// is a ScenarioError naming file:line:column; nothing half-loaded escapes.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "language/yaml_reader.hpp"
#include "scenario/model.hpp"

namespace fh::scenario {

/// Overrides from the command line, as YAML mappings merged like a variant's `set`.
struct LoadOptions {
  /// --set: merged into every scenario (after its variant), e.g.
  /// "topology: {gateway: {knobs: {fastcgi_buffering: 'off'}}}".
  std::vector<std::string> set;
  /// --matrix NAME=YAML: every scenario runs once per entry, named id[variant+NAME].
  std::vector<std::pair<std::string, std::string>> matrix;
};

/// Checks the --set and --matrix texts once (their YAML syntax, their shape); every error,
/// each named by its text ("--set #2:1:5: ..."). Empty when they are fine.
std::vector<ScenarioError> check_overrides(const LoadOptions& options);

/// Loads one file. A scenario with variants yields one Scenario per variant, in file order
/// (times the matrix entries, when given). Throws the first ScenarioError.
std::vector<Scenario> load_file(const std::filesystem::path& file, const LoadOptions& options = {});

/// A variant that could not be loaded: which one, and why.
struct VariantError {
  std::string id;           // the scenario's id (the file's stem when `id:` itself is wrong)
  std::string variant;      // empty for a file without variants (or a file-level error)
  bool whole_file = false;  // YAML syntax, the file's frame: no variant could be read
  ScenarioError error;
  std::string display_name() const { return variant.empty() ? id : id + "[" + variant + "]"; }
};
struct LoadResult {
  std::vector<Scenario> scenarios;
  std::vector<VariantError> errors;
};

/// As load_file, but each variant on its own: a key that only one variant's topology cannot
/// take fails that variant, not the file, so a filter can still select the others.
LoadResult load_file_variants(const std::filesystem::path& file, const LoadOptions& options = {});

/// Loads YAML text as if it were the named file (tests, stdin).
std::vector<Scenario> load_text(const std::string& yaml, const std::string& file_name,
                                const LoadOptions& options = {});

/// "16MiB", "1 KiB", "100", 100 → bytes.
using language::parse_size;

}  // namespace fh::scenario
