// JSON, JUnit and Markdown reports: the documented fields, repeat statistics, escaping.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "reports/reports.hpp"
#include "scenario/loader.hpp"

using namespace fh;
using scenario::Verdict;

namespace {

runner::ScenarioReport report(const std::string& file, const std::string& variant, Verdict v,
                              std::string reason, int runs = 1) {
  runner::ScenarioReport r;
  r.scenario = scenario::load_text(
      "title: T <&>\ndescription: d\nrequests: [{}]\nexpect: [{grade: PASS}]\n", file)[0];
  r.scenario.variant = variant;
  r.verdict = v;
  r.reason = std::move(reason);
  for (int i = 0; i < runs; ++i) {
    runner::RunResult run;
    run.verdict = v;
    run.reason = r.reason;
    run.duration_ms = 10;
    runner::RequestResult req;
    req.name = "r1";
    req.verdict = v;
    req.exchange.status = 200;
    req.exchange.outcome = client::Outcome::complete;
    run.requests.push_back(req);
    r.runs.push_back(run);
  }
  r.counts[v] = runs;
  r.duration_ms = 10.0 * runs;
  r.failure_rate = (v == Verdict::fail || v == Verdict::error) ? 1.0 : 0.0;
  r.failure_rate_ci = runner::wilson_interval(r.failure_rate > 0 ? runs : 0, runs);
  return r;
}

runner::SuiteReport suite_of(std::vector<runner::ScenarioReport> rows, int repeat) {
  runner::SuiteReport s;
  s.repeat = repeat;
  for (auto& r : rows) {
    s.counts[r.verdict]++;
    s.scenarios.push_back(std::move(r));
  }
  s.duration_ms = 1234;
  return s;
}

}  // namespace

TEST(JsonReport, RowsAndSummary) {
  auto suite = suite_of({report("scenarios/basic/a.yaml", "", Verdict::pass, "ok"),
                         report("scenarios/faults/b.yaml", "unix", Verdict::fail, "bad\nmore")},
                        1);
  auto j = reports::to_json(suite);
  ASSERT_EQ(j["scenarios"].size(), 2u);
  const auto& a = j["scenarios"][0];
  EXPECT_EQ(a["id"], "a");
  EXPECT_EQ(a["file"], "scenarios/basic/a.yaml");
  EXPECT_FALSE(a.contains("variant"));  // only when the scenario has variants
  EXPECT_EQ(a["verdict"], "PASS");
  EXPECT_EQ(a["reason"], "ok");
  EXPECT_EQ(a["duration_ms"], 10.0);
  EXPECT_FALSE(a.contains("runs"));  // only with --repeat
  EXPECT_EQ(a["requests"][0]["status"], 200);
  EXPECT_EQ(a["requests"][0]["outcome"], "complete");
  const auto& b = j["scenarios"][1];
  EXPECT_EQ(b["variant"], "unix");
  EXPECT_EQ(b["verdict"], "FAIL");
  EXPECT_EQ(j["summary"]["scenarios"], 2);
  EXPECT_EQ(j["summary"]["verdicts"]["PASS"], 1);
  EXPECT_EQ(j["summary"]["verdicts"]["FAIL"], 1);
  EXPECT_EQ(j["summary"]["verdicts"]["ERROR"], 0);
  EXPECT_EQ(j["summary"]["failed"], true);
}

TEST(JsonReport, RepeatAddsCountsRateAndInterval) {
  auto suite = suite_of({report("s/a.yaml", "", Verdict::fail, "x", 20)}, 20);
  auto row = reports::to_json(suite)["scenarios"][0];
  EXPECT_EQ(row["runs"], 20);
  EXPECT_EQ(row["verdict_counts"]["FAIL"], 20);
  EXPECT_EQ(row["verdict_counts"]["PASS"], 0);
  EXPECT_EQ(row["rate"], 1.0);
  ASSERT_EQ(row["rate_ci95"].size(), 2u);
  EXPECT_NEAR(row["rate_ci95"][0].get<double>(), 0.8389, 1e-3);
  EXPECT_EQ(row["rate_ci95"][1], 1.0);
}

TEST(JunitReport, CountsFailuresErrorsSkipsAndEscapes) {
  auto suite = suite_of(
      {report("scenarios/basic/a.yaml", "", Verdict::pass, "ok"),
       report("scenarios/faults/b.yaml", "", Verdict::fail, "expected <502> & got \"200\"\x01"),
       report("scenarios/faults/c.yaml", "", Verdict::error, "setup"),
       report("scenarios/faults/d.yaml", "", Verdict::skip, "needs nginx"),
       report("scenarios/faults/e.yaml", "", Verdict::non_strict, "tolerated")},
      1);
  const auto xml = reports::to_junit_xml(suite);
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
  EXPECT_NE(xml.find("<testsuites name=\"fcgi-harness\" tests=\"5\" failures=\"1\" errors=\"1\" "
                     "skipped=\"1\""),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("classname=\"scenarios.faults\" name=\"b\""), std::string::npos) << xml;
  EXPECT_NE(
      xml.find(
          "<failure type=\"FAIL\" message=\"expected &lt;502&gt; &amp; got &quot;200&quot;\">"),
      std::string::npos)
      << xml;
  EXPECT_EQ(xml.find('\x01'), std::string::npos);
  EXPECT_NE(xml.find("<error type=\"ERROR\" message=\"setup\">"), std::string::npos);
  EXPECT_NE(xml.find("<skipped message=\"needs nginx\"/>"), std::string::npos);
  EXPECT_NE(xml.find("verdict: NON-STRICT"),
            std::string::npos);  // graded passes keep their grade visible
}

TEST(MarkdownReport, CountsThenWhatDidNotPassWorstFirst) {
  auto suite = suite_of(
      {report("scenarios/basic/a.yaml", "", Verdict::pass, "ok"),
       report("scenarios/faults/b.yaml", "", Verdict::non_strict, "closed"),
       report("scenarios/faults/c.yaml", "unix", Verdict::fail, "body | short\nsecond line"),
       report("scenarios/faults/d.yaml", "", Verdict::error, "crashed")},
      1);
  const auto md = reports::to_markdown(suite, "fcgi-harness run");
  EXPECT_NE(md.find("### fcgi-harness run: FAILED"), std::string::npos) << md;
  EXPECT_NE(md.find("| PASS | 1 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| FAIL | 1 |"), std::string::npos) << md;
  // The passing scenario is counted, not listed; the ERROR comes first, then the FAIL with
  // its reason's first line and the pipe escaped, then the NON-STRICT.
  EXPECT_EQ(md.find("`a`"), std::string::npos) << md;
  const auto error = md.find("| **ERROR** | `d` |");
  const auto fail = md.find("| **FAIL** | `c[unix]` | body \\| short |");
  const auto non_strict = md.find("| NON-STRICT | `b` | closed |");
  ASSERT_NE(error, std::string::npos) << md;
  ASSERT_NE(fail, std::string::npos) << md;
  ASSERT_NE(non_strict, std::string::npos) << md;
  EXPECT_LT(error, fail);
  EXPECT_LT(fail, non_strict);
  EXPECT_EQ(md.find("second line"), std::string::npos) << md;

  auto clean = suite_of({report("scenarios/basic/a.yaml", "", Verdict::pass, "ok")}, 1);
  const auto passed = reports::to_markdown(clean, "t");
  EXPECT_NE(passed.find("### t: passed"), std::string::npos) << passed;
  EXPECT_NE(passed.find("Every scenario passed."), std::string::npos) << passed;
}

TEST(MarkdownReport, AppendsToTheGithubStepSummary) {
  const auto path = std::filesystem::temp_directory_path() / "fh-step-summary.md";
  std::filesystem::remove(path);
  ::setenv("GITHUB_STEP_SUMMARY", path.c_str(), 1);
  reports::append_step_summary("first\n");
  reports::append_step_summary("second\n");
  ::unsetenv("GITHUB_STEP_SUMMARY");
  reports::append_step_summary("not written\n");  // unset: nothing happens
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "first\n\nsecond\n\n");
  std::filesystem::remove(path);
}
