// The report side of the CLI: `fcgi-harness report RESULTS.json... -o report.html` (results
// documents merged into one HTML report, reports/html_report.hpp), and the acceptance of a
// run or certification (--quirks, --baseline: reports/acceptance.hpp).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "reports/acceptance.hpp"
#include "runner/suite.hpp"

namespace fh::cli {

/// Exit status: 0 written, 1 it could not be written, 2 an input is not a results document
/// or there are more labels than files.
int write_report(const std::vector<std::string>& inputs, const std::vector<std::string>& labels,
                 const std::string& title, const std::string& output, std::ostream& err);

/// The committed quirks `run` applies when --quirks is not given (if the file exists).
inline constexpr const char* kDefaultQuirks = "quirks.yaml";

/// What a run is accepted against: the quirks file's entries and the baseline results.
struct AcceptanceInputs {
  std::string quirks_path;  // empty: none
  std::vector<reports::Quirk> quirks;
  std::optional<nlohmann::json> baseline;
};

/// Reads --quirks (`quirks_path`: a file, "none", or empty for `default_path` when it exists)
/// and --baseline; false with the error printed when one of them cannot be used.
bool load_acceptance(const std::string& quirks_path, const std::string& default_path,
                     const std::string& baseline_path, AcceptanceInputs& inputs, std::ostream& err);

/// The acceptance's findings (quirks, baseline) as a Markdown section; "" when there are none.
std::string acceptance_markdown(const nlohmann::json& results);

/// Where a run's or a certification's reports go (empty: not written; "-": stdout).
struct ReportPaths {
  std::string json, junit, markdown, html;
};

/// Writes the reports `paths` asks for, of `suite` and its judged results document `results`
/// (`title` heads the Markdown and the HTML), appends the Markdown to $GITHUB_STEP_SUMMARY
/// when set, and writes every FAIL/ERROR evidence folder's timeline.html. Throws
/// std::runtime_error naming what could not be written.
void write_reports(const runner::SuiteReport& suite, const nlohmann::json& results,
                   const ReportPaths& paths, const std::string& title);

/// Judges `results` (marking quirks in it) and prints the findings; true when it failed.
bool judge_and_print(nlohmann::json& results, const AcceptanceInputs& inputs, bool strict,
                     std::ostream& out);

}  // namespace fh::cli
