// A suite: the scenarios found under the paths given, filtered, each run once or --repeat
// times, with per-scenario verdict counts and failure-rate intervals.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "runner/runner.hpp"
#include "scenario/loader.hpp"

namespace fh::runner {

/// Scenario files (*.yaml, *.yml) under each path, folders searched recursively, sorted.
/// A path that does not exist, or a file that is not YAML, is an error message in `errors`.
std::vector<std::filesystem::path> find_scenario_files(const std::vector<std::string>& paths,
                                                       std::vector<std::string>& errors);

/// Loads every file and keeps the scenarios `filter` selects (all when empty); each load
/// error (file:line:column) goes to `errors`, once (an error in a --set text is not repeated
/// per file). A variant that fails to load but is not selected is no error. Duplicate scenario
/// ids (id + variant) are errors too.
std::vector<scenario::Scenario> load_scenarios(const std::vector<std::filesystem::path>& files,
                                               std::vector<std::string>& errors,
                                               const scenario::LoadOptions& options = {},
                                               const std::string& filter = {});

/// Shell-style glob (fnmatch) against the id, the id[variant] name and the file path.
bool matches_filter(const scenario::Scenario& scenario, const std::string& glob);
bool matches_filter(const std::string& id, const std::string& display_name, const std::string& file,
                    const std::string& glob);

struct ScenarioReport {
  scenario::Scenario scenario;
  std::vector<RunResult> runs;
  Verdict verdict = Verdict::error;         // the worst run's
  std::string reason;                       // the worst run's reason (first such run)
  std::map<Verdict, std::uint64_t> counts;  // verdict -> runs
  double failure_rate = 0;                  // (FAIL + ERROR) / runs
  Interval failure_rate_ci;                 // 95 % Wilson interval
  double duration_ms = 0;                   // all runs
  /// For a scenario with an expected verdict (an emulated bug): every run earned it.
  bool as_expected() const;
  /// A FAIL or ERROR that was not expected, or an expected verdict that did not come.
  bool failed() const;
};

struct SuiteReport {
  std::vector<ScenarioReport> scenarios;
  std::map<Verdict, std::uint64_t> counts;  // scenario verdicts
  double duration_ms = 0;
  int repeat = 1;
  bool failed() const;  // any scenario failed()
};

/// Runs each scenario `repeat` times; `on_scenario` is called as each one finishes. With
/// `artifacts_dir`, the evidence of the runs `keep` selects is kept under
/// artifacts_dir/<id[variant]>/ (run-N/ below it when repeat > 1); that folder is emptied
/// before the scenario's first run, so what is there is this invocation's.
SuiteReport run_suite(const std::vector<scenario::Scenario>& scenarios, int repeat,
                      const std::function<void(const ScenarioReport&)>& on_scenario = {},
                      const std::filesystem::path& artifacts_dir = {},
                      KeepEvidence keep = KeepEvidence::all, const std::string& under_test = {});

}  // namespace fh::runner
