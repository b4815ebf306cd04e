#include "runner/suite.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "runner/interrupt.hpp"

namespace fh::runner {

namespace fs = std::filesystem;

static bool is_yaml(const fs::path& p) {
  return p.extension() == ".yaml" || p.extension() == ".yml";
}

std::vector<fs::path> find_scenario_files(const std::vector<std::string>& paths,
                                          std::vector<std::string>& errors) {
  std::vector<fs::path> out;
  for (const auto& given : paths) {
    fs::path p(given);
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(p, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file() && is_yaml(it->path())) found.push_back(it->path());
      if (ec) errors.push_back(given + ": cannot list the folder: " + ec.message());
      std::sort(found.begin(), found.end());
      if (found.empty())
        errors.push_back(given + ": no scenario files (*.yaml, *.yml) in this folder");
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      if (!is_yaml(p))
        errors.push_back(given + ": not a scenario file (expected .yaml or .yml)");
      else
        out.push_back(p);
    } else {
      errors.push_back(given + ": no such file or folder");
    }
  }
  return out;
}

std::vector<scenario::Scenario> load_scenarios(const std::vector<fs::path>& files,
                                               std::vector<std::string>& errors,
                                               const scenario::LoadOptions& options,
                                               const std::string& filter) {
  // A broken --set or --matrix text is one error, not one per scenario file.
  if (const auto broken = scenario::check_overrides(options); !broken.empty()) {
    for (const auto& e : broken) errors.push_back(e.what());
    return {};
  }
  std::vector<scenario::Scenario> out;
  std::map<std::string, std::string> seen;  // display name -> file
  // One line per distinct error, naming the variants it stopped: an error in a --set text,
  // or in a key every variant shares, is not repeated per file or per variant.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> variants_of;
  for (const auto& f : files) {
    auto loaded = scenario::load_file_variants(f, options);
    for (const auto& e : loaded.errors) {
      // A variant the filter does not select is not run, so its error does not stop the
      // others (a key only one variant's topology cannot take).
      if (!e.whole_file && !matches_filter(e.id, e.display_name(), f.string(), filter)) continue;
      const std::string message = e.error.what();
      if (!variants_of.count(message)) order.push_back(message);
      if (!e.variant.empty())
        variants_of[message].push_back(e.display_name());
      else
        variants_of[message];
    }
    for (auto& s : loaded.scenarios) {
      if (!matches_filter(s, filter)) continue;
      auto [it, inserted] = seen.emplace(s.display_name(), s.file);
      if (!inserted) {
        errors.push_back(s.file + ": scenario id '" + s.display_name() + "' is also used by " +
                         it->second + " (set a distinct id:)");
        continue;
      }
      out.push_back(std::move(s));
    }
  }
  for (const auto& message : order) {
    const auto& variants = variants_of[message];
    std::string which;
    for (std::size_t i = 0; i < variants.size() && i < 4; ++i)
      which += (i ? ", " : "") + variants[i];
    if (variants.size() > 4) which += " and " + std::to_string(variants.size() - 4) + " more";
    errors.push_back(which.empty() ? message : message + " (in " + which + ")");
  }
  return out;
}

bool matches_filter(const std::string& id, const std::string& display_name, const std::string& file,
                    const std::string& glob) {
  if (glob.empty()) return true;
  for (const auto& candidate : {id, display_name, file})
    if (::fnmatch(glob.c_str(), candidate.c_str(), 0) == 0) return true;
  return false;
}

bool matches_filter(const scenario::Scenario& s, const std::string& glob) {
  return matches_filter(s.id, s.display_name(), s.file, glob);
}

bool ScenarioReport::as_expected() const {
  if (!scenario.expected_verdict || runs.empty()) return false;
  auto it = counts.find(*scenario.expected_verdict);
  return it != counts.end() && it->second == runs.size();
}

bool ScenarioReport::failed() const {
  if (scenario.skip) return false;
  if (scenario.expected_verdict) return !as_expected();
  return verdict == Verdict::fail || verdict == Verdict::error;
}

bool SuiteReport::failed() const {
  for (const auto& s : scenarios)
    if (s.failed()) return true;
  return false;
}

SuiteReport run_suite(const std::vector<scenario::Scenario>& scenarios, int repeat,
                      const std::function<void(const ScenarioReport&)>& on_scenario,
                      const std::filesystem::path& artifacts_dir, KeepEvidence keep,
                      const std::string& under_test) {
  SuiteReport suite;
  suite.repeat = repeat;
  const auto started = std::chrono::steady_clock::now();
  for (const auto& s : scenarios) {
    ScenarioReport report;
    report.scenario = s;
    std::uint64_t failures = 0;
    if (!artifacts_dir.empty() && keep != KeepEvidence::none) {
      // Evidence left by an earlier invocation would pass for this one's.
      std::error_code ignored;
      std::filesystem::remove_all(artifacts_dir / s.display_name(), ignored);
    }
    for (int i = 0; i < repeat; ++i) {
      RunOptions options;
      options.keep = keep;
      options.under_test = under_test;
      if (!artifacts_dir.empty()) {
        options.artifacts_dir = artifacts_dir / s.display_name();
        if (repeat > 1) options.artifacts_dir /= "run-" + std::to_string(i + 1);
      }
      auto run = run_scenario(s, options);
      report.duration_ms += run.duration_ms;
      report.counts[run.verdict]++;
      if (run.verdict == Verdict::fail || run.verdict == Verdict::error) ++failures;
      if (report.runs.empty() ||
          scenario::severity(run.verdict) > scenario::severity(report.verdict)) {
        report.verdict = run.verdict;
        report.reason = run.reason;
      }
      report.runs.push_back(std::move(run));
      if (interrupted()) break;
      if (s.skip) break;  // a skipped scenario runs nothing; repeating it says nothing more
    }
    const auto runs = report.runs.size();
    report.failure_rate = runs ? static_cast<double>(failures) / static_cast<double>(runs) : 0;
    report.failure_rate_ci = wilson_interval(failures, runs);
    suite.counts[report.verdict]++;
    if (on_scenario) on_scenario(report);
    suite.scenarios.push_back(std::move(report));
    if (interrupted()) break;  // the rest does not run; the summary says so
  }
  suite.duration_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return suite;
}

}  // namespace fh::runner
