// Results for machines and CI pages: the JSON document (schema in README.md), JUnit XML for
// CI systems (Jenkins, GitHub Actions, GitLab), and a Markdown summary for a CI step page.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "runner/suite.hpp"

namespace fh::reports {

nlohmann::json to_json(const runner::SuiteReport& suite);
std::string to_junit_xml(const runner::SuiteReport& suite);
/// Counts by grade, then every scenario that did not pass (unexpected FAIL and ERROR first)
/// with its check and reason: small enough for a GitHub Actions step summary.
std::string to_markdown(const runner::SuiteReport& suite, const std::string& title);
/// Appends `markdown` to the file $GITHUB_STEP_SUMMARY names, when it is set (GitHub Actions).
void append_step_summary(const std::string& markdown);

/// The current time in UTC, formatted by strftime's `format` ("%Y-%m-%d", ...).
std::string utc_now(const char* format);

/// Writes `text` to `path` ("-" is stdout), making its folder when needed. Throws
/// std::runtime_error naming the path.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace fh::reports
