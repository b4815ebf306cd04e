// Machine-readable results: the JSON document (schema in README.md) and JUnit XML for CI
// systems (Jenkins, GitHub Actions, GitLab).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "runner/suite.hpp"

namespace fh::reports {

nlohmann::json to_json(const runner::SuiteReport& suite);
std::string to_junit_xml(const runner::SuiteReport& suite);

/// Writes `text` to `path` ("-" is stdout). Throws std::runtime_error naming the path.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace fh::reports
