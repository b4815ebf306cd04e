// The seed races (scenarios/field/): every variant that emulates a bug is graded FAIL and
// every fixed form is not, run after run. This keeps the suite green while proving that each
// scenario still detects its bug.
#include <gtest/gtest.h>

#include "runner/suite.hpp"

using namespace fh;
using scenario::Verdict;

namespace {

std::vector<scenario::Scenario> field_scenarios() {
  std::vector<std::string> errors;
  auto files =
      runner::find_scenario_files({std::string(FH_SOURCE_DIR) + "/scenarios/field"}, errors);
  auto scenarios = runner::load_scenarios(files, errors);
  EXPECT_TRUE(errors.empty()) << (errors.empty() ? "" : errors.front());
  return scenarios;
}

}  // namespace

TEST(Field, EverySeedHasABuggyAndAFixedForm) {
  std::map<std::string, std::pair<int, int>> per_file;  // file -> (emulated bugs, correct forms)
  for (const auto& s : field_scenarios()) {
    auto& [buggy, fixed] = per_file[s.file];
    (s.expected_verdict ? buggy : fixed)++;
  }
  EXPECT_GE(per_file.size(), 7u);
  for (const auto& [file, counts] : per_file) {
    EXPECT_GE(counts.first, 1) << file << " has no variant that emulates the bug";
    EXPECT_GE(counts.second, 1) << file << " has no correct form";
  }
}

TEST(Field, BuggyFormsFailAndFixedFormsDoNot) {
  constexpr int kRuns = 3;  // `fcgi-harness run scenarios/field --repeat 100` measures rates
  for (const auto& s : field_scenarios()) {
    for (int i = 0; i < kRuns; ++i) {
      const auto run = runner::run_scenario(s);
      if (s.expected_verdict) {
        EXPECT_EQ(run.verdict, Verdict::fail)
            << s.display_name() << " run " << i << ": " << run.reason;
      } else {
        EXPECT_TRUE(run.verdict == Verdict::pass || run.verdict == Verdict::informational)
            << s.display_name() << " run " << i << ": " << scenario::verdict_name(run.verdict)
            << "\n"
            << run.reason;
      }
    }
  }
}
