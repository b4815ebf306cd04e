// The Markdown summary: what a CI page shows above the log (a GitHub Actions step summary,
// a GitLab or Jenkins comment): the counts by grade, then every scenario that did not pass,
// unexpected FAILs and ERRORs first, each with its id, its check (certify) and its reason.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "reports/reports.hpp"

namespace fh::reports {

using scenario::Verdict;

namespace {

// GitHub caps a step summary at 1 MiB; a table longer than this is cut with a count.
constexpr std::size_t kMaxRows = 200;
constexpr std::size_t kMaxReason = 300;

/// One table cell: a line, pipes escaped, cut to `limit` characters.
std::string cell(const std::string& text, std::size_t limit = kMaxReason) {
  std::string out;
  for (char c : text.substr(0, text.find('\n'))) {
    if (c == '|')
      out += "\\|";
    else if (c == '\r' || c == '\t')
      out += ' ';
    else
      out += c;
  }
  if (out.size() > limit) out = out.substr(0, limit - 3) + "...";
  return out;
}

std::string seconds(double ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", ms / 1000.0);
  return text;
}

/// Unexpected FAIL and ERROR first, then NON-STRICT, SKIP, and the expected FAILs.
int rank(const runner::ScenarioReport& r) {
  if (r.failed()) return r.verdict == Verdict::error ? 0 : 1;
  if (r.verdict == Verdict::non_strict) return 2;
  if (r.verdict == Verdict::skip) return 3;
  return 4;
}

std::string verdict_cell(const runner::ScenarioReport& r) {
  std::string v(scenario::verdict_name(r.verdict));
  if (r.scenario.expected_verdict && r.as_expected()) return v + " (as expected)";
  return r.failed() ? "**" + v + "**" : v;
}

}  // namespace

std::string to_markdown(const runner::SuiteReport& suite, const std::string& title) {
  std::string md = "### " + title + ": " + (suite.failed() ? "FAILED" : "passed") + "\n\n";
  md += std::to_string(suite.scenarios.size()) + " scenario(s)";
  if (suite.repeat > 1) md += " x " + std::to_string(suite.repeat) + " runs";
  const auto expected = std::count_if(suite.scenarios.begin(), suite.scenarios.end(),
                                      [](const auto& r) { return r.as_expected(); });
  if (expected > 0)
    md += " (" + std::to_string(expected) + " FAIL as expected: emulated bugs detected)";
  md += " in " + seconds(suite.duration_ms) + "\n\n| grade | scenarios |\n|---|---|\n";
  for (const auto& [v, n] : suite.counts)
    md += "| " + std::string(scenario::verdict_name(v)) + " | " + std::to_string(n) + " |\n";

  std::vector<const runner::ScenarioReport*> shown;
  for (const auto& r : suite.scenarios)
    if (r.verdict != Verdict::pass && r.verdict != Verdict::informational) shown.push_back(&r);
  std::stable_sort(shown.begin(), shown.end(),
                   [](const auto* a, const auto* b) { return rank(*a) < rank(*b); });
  if (shown.empty()) return md + "\nEvery scenario passed.\n";

  const bool certification = std::any_of(
      shown.begin(), shown.end(), [](const auto* r) { return r->scenario.certify.has_value(); });
  md += "\n| verdict | scenario |";
  md += certification ? " check | level |" : "";
  md += " reason |\n|---|---|";
  md += certification ? "---|---|" : "";
  md += "---|\n";
  for (std::size_t i = 0; i < shown.size() && i < kMaxRows; ++i) {
    const auto& r = *shown[i];
    md += "| " + verdict_cell(r) + " | `" + cell(r.scenario.display_name(), 120) + "` |";
    if (certification) {
      const auto& c = r.scenario.certify;
      md +=
          c ? " `" + cell(c->id, 120) + "` | " + std::string(scenario::level_name(c->level)) + " |"
            : " | |";
    }
    std::string reason = r.reason;
    if (r.runs.size() > 1) {
      char rate[96];
      std::snprintf(rate, sizeof rate,
                    "%zu runs, failure rate %.2f (95%% CI %.2f-%.2f): ", r.runs.size(),
                    r.failure_rate, r.failure_rate_ci.low, r.failure_rate_ci.high);
      reason = rate + reason;
    }
    md += " " + cell(reason) + " |\n";
  }
  if (shown.size() > kMaxRows)
    md += "\n... and " + std::to_string(shown.size() - kMaxRows) +
          " more not shown (the JSON result has every one).\n";
  return md;
}

void append_step_summary(const std::string& markdown) {
  const char* path = std::getenv("GITHUB_STEP_SUMMARY");
  if (path == nullptr || *path == '\0') return;
  std::ofstream out(path, std::ios::app);
  if (!out) throw std::runtime_error(std::string("cannot append to GITHUB_STEP_SUMMARY ") + path);
  out << markdown << "\n";
}

}  // namespace fh::reports
