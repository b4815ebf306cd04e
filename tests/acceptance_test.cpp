// Acceptance of a results document: quirks (allowed grades, known races with a failure rate,
// expiry) and baselines (only regressions fail); and the HTML report's data built from it.
#include "reports/acceptance.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "reports/html_report.hpp"
#include "tests/support/temp_dir.hpp"

namespace fh::reports {
namespace {

using nlohmann::json;
using test_support::TempDir;

json row(const std::string& id, const std::string& verdict) {
  return {{"id", id},           {"title", "T " + id},  {"file", "scenarios/x/" + id + ".yaml"},
          {"verdict", verdict}, {"reason", "because"}, {"duration_ms", 1.0}};
}

json race_row(const std::string& id, int runs, int failed, double low, double high) {
  auto r = row(id, failed ? "FAIL" : "PASS");
  r["runs"] = runs;
  r["rate"] = double(failed) / runs;
  r["rate_ci95"] = {low, high};
  return r;
}

json results(std::vector<json> rows) {
  return {{"scenarios", rows}};
}

Quirk quirk(const std::string& check, const std::string& allowed, const std::string& expires,
            std::optional<double> max_rate = std::nullopt) {
  Quirk q;
  q.check = check;
  q.allowed = allowed;
  q.expires = expires;
  q.max_rate = max_rate;
  q.reason = "a reason";
  q.mark = {"quirks.yaml", 3, 5};
  return q;
}

bool any_line(const Acceptance& a, const std::string& text) {
  for (const auto& line : a.lines)
    if (line.find(text) != std::string::npos) return true;
  return false;
}

const std::string kToday = "2026-12-01";

TEST(Acceptance, AnUnexpectedFailFailsTheRunWithoutAQuirk) {
  auto r = results({row("a", "PASS"), row("b", "FAIL")});
  EXPECT_TRUE(judge(r, {}, std::nullopt, false, kToday).failed);
}

TEST(Acceptance, NonStrictFailsOnlyWhenStrict) {
  auto r = results({row("a", "NON-STRICT")});
  EXPECT_FALSE(judge(r, {}, std::nullopt, false, kToday).failed);
  EXPECT_TRUE(judge(r, {}, std::nullopt, true, kToday).failed);
}

TEST(Acceptance, AQuirkAllowsItsGradeAndNoWorse) {
  auto r = results({row("b", "FAIL")});
  EXPECT_FALSE(judge(r, {quirk("b", "FAIL", "2027-01-01")}, std::nullopt, false, kToday).failed);
  EXPECT_EQ(r["scenarios"][0]["quirk"]["allowed"], "FAIL");
  auto e = results({row("b", "ERROR")});
  EXPECT_TRUE(judge(e, {quirk("b", "FAIL", "2027-01-01")}, std::nullopt, false, kToday).failed);
}

TEST(Acceptance, AKnownRaceFailsOnlyWhenItsRateIsSignificantlyAboveTheAllowedOne) {
  const auto q = quirk("race[*", "FAIL", "2027-01-01", 0.5);
  auto within = results({race_row("race[v]", 20, 12, 0.39, 0.78)});  // 0.6, not significant
  const auto a = judge(within, {q}, std::nullopt, false, kToday);
  EXPECT_FALSE(a.failed);
  EXPECT_TRUE(any_line(a, "failure rate 0.60 (95% CI 0.39-0.78)")) << a.lines.front();
  auto above = results({race_row("race[v]", 20, 18, 0.70, 0.97)});
  EXPECT_TRUE(judge(above, {q}, std::nullopt, false, kToday).failed);
}

TEST(Acceptance, OneRunOfARaceShowsItsIntervalAndIsAllowedUnlessTheRateIsTiny) {
  auto r = results({row("race", "FAIL")});
  const auto a = judge(r, {quirk("race", "FAIL", "2027-01-01", 0.5)}, std::nullopt, false, kToday);
  EXPECT_FALSE(a.failed);
  EXPECT_TRUE(any_line(a, "FAIL, 1 of 1 run(s) failed: failure rate 1.00 (95% CI 0.21-1.00)"));
  // One failed run is already significant against a race allowed to fail 10% of the time.
  auto again = results({row("race", "FAIL")});
  EXPECT_TRUE(
      judge(again, {quirk("race", "FAIL", "2027-01-01", 0.1)}, std::nullopt, false, kToday).failed);
}

TEST(Acceptance, AKnownRaceThatPassedStillShowsItsRate) {
  auto r = results({race_row("race", 10, 0, 0.0, 0.28)});
  const auto a = judge(r, {quirk("race", "FAIL", "2027-01-01", 0.5)}, std::nullopt, false, kToday);
  EXPECT_FALSE(a.failed);
  EXPECT_TRUE(any_line(a, "PASS, 0 of 10 run(s) failed: failure rate 0.00"));
}

TEST(Acceptance, AnExpiredQuirkFailsTheRunEvenWhenEverythingPassed) {
  auto r = results({row("a", "PASS")});
  const auto a = judge(r, {quirk("a", "FAIL", "2026-11-30")}, std::nullopt, false, kToday);
  EXPECT_TRUE(a.failed);
  EXPECT_TRUE(any_line(a, "EXPIRED quirk quirks.yaml:3:5"));
  auto today = results({row("a", "PASS")});
  EXPECT_FALSE(judge(today, {quirk("a", "FAIL", kToday)}, std::nullopt, false, kToday).failed);
}

TEST(Acceptance, AQuirkThatMatchesNothingIsReported) {
  auto r = results({row("a", "PASS")});
  const auto a = judge(r, {quirk("zzz*", "FAIL", "2027-01-01")}, std::nullopt, false, kToday);
  EXPECT_FALSE(a.failed);
  EXPECT_TRUE(any_line(a, "unused quirk quirks.yaml:3:5 zzz*"));
}

TEST(Acceptance, AQuirkForAnotherImplementationDoesNotApply) {
  auto r = results({row("b", "FAIL")});
  r["subject"] = {{"name", "nginx 1.22.1"}};
  auto q = quirk("b", "FAIL", "2027-01-01");
  q.implementation = "lighttpd*";
  EXPECT_TRUE(judge(r, {q}, std::nullopt, false, kToday).failed);
  q.implementation = "nginx*";
  EXPECT_FALSE(judge(r, {q}, std::nullopt, false, kToday).failed);
}

TEST(Acceptance, ABaselineFailsOnlyOnRegressionsAndReportsImprovements) {
  const auto baseline =
      results({row("known", "FAIL"), row("was-good", "PASS"), row("was-bad", "FAIL")});
  auto now = results({row("known", "FAIL"), row("was-good", "FAIL"), row("was-bad", "PASS")});
  const auto a = judge(now, {}, baseline, false, kToday);
  EXPECT_TRUE(a.failed);
  EXPECT_TRUE(any_line(a, "regression: was-good"));
  EXPECT_TRUE(any_line(a, "improvement: was-bad"));
  EXPECT_TRUE(any_line(a, "1 regression(s), 1 improvement(s), 1 known failure(s)"));
  auto same = results({row("known", "FAIL"), row("was-good", "PASS")});
  EXPECT_FALSE(judge(same, {}, baseline, false, kToday).failed);
}

TEST(Acceptance, ANewFailingCheckIsARegression) {
  const auto baseline = results({row("a", "PASS")});
  auto now = results({row("a", "PASS"), row("new", "FAIL")});
  const auto a = judge(now, {}, baseline, false, kToday);
  EXPECT_TRUE(a.failed);
  EXPECT_TRUE(any_line(a, "new and failing: new"));
}

TEST(Acceptance, AnEmulatedBugsExpectedFailIsNoFailureButGoingBlindIs) {
  auto expected = row("bug[buggy]", "FAIL");
  expected["expected_verdict"] = "FAIL";
  expected["as_expected"] = true;
  auto r = results({expected});
  EXPECT_FALSE(judge(r, {}, std::nullopt, false, kToday).failed);
  auto blind = row("bug[buggy]", "PASS");
  blind["expected_verdict"] = "FAIL";
  blind["as_expected"] = false;
  auto b = results({blind});
  EXPECT_TRUE(judge(b, {}, std::nullopt, false, kToday).failed);
}

std::string write(const TempDir& dir, const std::string& text) {
  const auto path = (dir.path() / "quirks.yaml").string();
  std::ofstream(path) << text;
  return path;
}

TEST(QuirksFile, LoadsEveryKey) {
  TempDir dir("quirks");
  const auto quirks = load_quirks(write(dir,
                                        "quirks:\n"
                                        "  - check: 'race[*]'\n"
                                        "    implementation: 'nginx*'\n"
                                        "    allowed: FAIL\n"
                                        "    max_rate: 0.4\n"
                                        "    reason: r\n"
                                        "    expires: '2027-06-30'\n"));
  ASSERT_EQ(quirks.size(), 1u);
  EXPECT_EQ(quirks[0].implementation, "nginx*");
  EXPECT_DOUBLE_EQ(*quirks[0].max_rate, 0.4);
  EXPECT_EQ(quirks[0].mark.line, 2);
}

TEST(QuirksFile, RejectsAMisspeltKeyWithWhereAndASuggestion) {
  TempDir dir("quirks");
  const auto path = write(dir,
                          "quirks:\n"
                          "  - check: a\n"
                          "    allowed: FAIL\n"
                          "    reason: r\n"
                          "    expire: '2027-06-30'\n");
  try {
    load_quirks(path);
    FAIL() << "loaded";
  } catch (const language::ScenarioError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":2:5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing required key 'expires'"), std::string::npos)
        << e.what();
  }
  const auto typo = write(dir,
                          "quirks:\n"
                          "  - check: a\n"
                          "    allowed: FAIL\n"
                          "    reason: r\n"
                          "    expires: '2027-06-30'\n"
                          "    max_rat: 0.3\n");
  try {
    load_quirks(typo);
    FAIL() << "loaded";
  } catch (const language::ScenarioError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'max_rate'"), std::string::npos) << e.what();
  }
}

TEST(QuirksFile, RejectsABadDateGradeOrRate) {
  TempDir dir("quirks");
  const std::string head = "quirks:\n  - check: a\n    reason: r\n";
  EXPECT_THROW(load_quirks(write(dir, head + "    allowed: FAIL\n    expires: 30.6.2027\n")),
               language::ScenarioError);
  EXPECT_THROW(load_quirks(write(dir, head + "    allowed: FIAL\n    expires: '2027-06-30'\n")),
               language::ScenarioError);
  EXPECT_THROW(load_quirks(write(dir, head + "    allowed: FAIL\n    max_rate: 2\n"
                                             "    expires: '2027-06-30'\n")),
               language::ScenarioError);
  EXPECT_THROW(load_quirks(write(dir, head + "    allowed: NON-STRICT\n    max_rate: 0.2\n"
                                             "    expires: '2027-06-30'\n")),
               language::ScenarioError);
}

TEST(HtmlReport, OneCellPerResultRowsGroupedInTheSpecsOrder) {
  auto certify_row = [](const std::string& id, const std::string& section, const std::string& v) {
    auto r = row(id, v);
    r["certify"] = {{"id", "gateway/" + section + "/" + id},
                    {"section", section},
                    {"level", "MUST"},
                    {"requirement", "the sentence"}};
    return r;
  };
  const json a =
      results({certify_row("x", "seed-001", "PASS"), certify_row("y", "5.3", "FAIL"),
               certify_row("z", "rfc3875-4.1", "PASS"), certify_row("w", "3.3", "PASS")});
  json b = a;
  b["scenarios"].erase(0);
  const auto data = report_data({{a, {}, "first"}, {b, {}, "second"}}, "t", ".");
  ASSERT_EQ(data["columns"].size(), 2u);
  EXPECT_EQ(data["columns"][0]["name"], "first");
  EXPECT_EQ(data["columns"][0]["must_failures"], 1);
  EXPECT_EQ(data["cells"].size(), 7u);
  std::vector<std::string> sections;
  for (const auto& r : data["rows"]) sections.push_back(r["section"]);
  EXPECT_EQ(sections, (std::vector<std::string>{"3.3", "5.3", "rfc3875-4.1", "seed-001"}));
  EXPECT_EQ(data["rows"][1]["section_title"],
            "FastCGI 1.0 §5.3 Byte streams: FCGI_STDIN, FCGI_DATA, FCGI_STDOUT, FCGI_STDERR");
}

TEST(HtmlReport, AReasonWithAClosingScriptTagCannotEndTheData) {
  auto r = row("a", "FAIL");
  r["reason"] = "body was </script><script>alert(1)</script>";
  const auto html = to_html(report_data({{results({r}), {}, "x"}}, "t", "."));
  const auto start = html.find("<script id=\"fh-report-data\"");
  const auto end = html.find("</script>", start);
  EXPECT_NE(html.substr(start, end - start).find("<\\/script><script>alert(1)<\\/script>"),
            std::string::npos);
  EXPECT_EQ(html.find("alert(1)</script>"), std::string::npos);
}

}  // namespace
}  // namespace fh::reports
