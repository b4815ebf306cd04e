#include "reports/acceptance.hpp"

#include <fnmatch.h>

#include <cstdio>
#include <map>
#include <regex>
#include <set>

#include "language/yaml_reader.hpp"
#include "reports/reports.hpp"
#include "runner/verdict.hpp"

namespace fh::reports {

using nlohmann::json;
namespace yaml = language::yaml;

namespace {

// Grades from best to worst, as far as acceptance goes (SKIP judged nothing: not worse).
int severity(const std::string& grade) {
  if (grade == "INFORMATIONAL") return 1;
  if (grade == "NON-STRICT") return 2;
  if (grade == "FAIL") return 3;
  if (grade == "ERROR") return 4;
  return 0;  // PASS, SKIP
}

const std::vector<std::string>& allowed_grades() {
  static const std::vector<std::string> grades{"INFORMATIONAL", "NON-STRICT", "FAIL", "ERROR"};
  return grades;
}

// A check's own name matches itself although "[variant]" is also glob syntax.
bool glob(const std::string& pattern, const std::string& text) {
  return pattern == text || ::fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

// The names a quirk's `check` may match: the check id[variant] (certify), id[variant], id.
std::vector<std::string> names_of(const json& row) {
  const std::string id = row.value("id", "");
  const std::string variant = row.value("variant", "");
  const std::string suffix = variant.empty() ? "" : "[" + variant + "]";
  std::vector<std::string> names{id + suffix, id};
  if (row.contains("certify")) {
    const std::string check = row["certify"].value("id", "");
    names.insert(names.begin(), {check + suffix, check});
  }
  return names;
}

std::string key_of(const json& row) {
  return names_of(row).front();
}

// How bad a row is: its grade's severity, except for an emulated bug's scenario, which is
// good when its expected verdict came and as bad as a FAIL when it did not (it went blind).
int badness(const json& row) {
  if (row.contains("expected_verdict")) return row.value("as_expected", false) ? 0 : 3;
  return severity(row.value("verdict", "ERROR"));
}

int failing_from(bool strict) {
  return strict ? severity("NON-STRICT") : severity("FAIL");
}

// A row's failure rate: FAIL and ERROR runs of all runs, with the 95% Wilson interval (the
// results carry it with --repeat; one run is computed here, 1 of 1 failed being 0.21-1.00).
struct Rate {
  std::uint64_t runs = 1, failed = 0;
  runner::Interval ci95;
};

Rate rate_of(const json& row) {
  Rate rate;
  const std::string verdict = row.value("verdict", "ERROR");
  if (row.contains("runs") && row.contains("rate_ci95")) {
    rate.runs = row["runs"].get<std::uint64_t>();
    rate.failed = static_cast<std::uint64_t>(row.value("rate", 0.0) * double(rate.runs) + 0.5);
    rate.ci95 = {row["rate_ci95"][0].get<double>(), row["rate_ci95"][1].get<double>()};
    return rate;
  }
  rate.failed = (verdict == "FAIL" || verdict == "ERROR") ? 1 : 0;
  rate.ci95 = runner::wilson_interval(rate.failed, rate.runs);
  return rate;
}

std::string rate_text(const json& row) {
  const auto rate = rate_of(row);
  char text[200];
  std::snprintf(text, sizeof text,
                "%s, %llu of %llu run(s) failed: failure rate %.2f (95%% CI %.2f-%.2f)",
                row.value("verdict", "").c_str(), static_cast<unsigned long long>(rate.failed),
                static_cast<unsigned long long>(rate.runs), double(rate.failed) / double(rate.runs),
                rate.ci95.low, rate.ci95.high);
  return text;
}

// Does `quirk` allow this row as it came out? A known race is allowed unless its failure rate
// is significantly above the allowed one: the interval's low end over it (one failed run,
// 0.21-1.00, is above no max_rate of 0.21 or more).
bool allows(const Quirk& quirk, const json& row) {
  if (row.contains("expected_verdict")) return false;  // a blind emulation is never a quirk
  if (severity(row.value("verdict", "ERROR")) > severity(quirk.allowed)) return false;
  if (quirk.max_rate) return rate_of(row).ci95.low <= *quirk.max_rate;
  return true;
}

std::string describe(const Quirk& q) {
  std::string text = q.mark.to_string() + " " + q.check;
  if (q.implementation != "*") text += " on " + q.implementation;
  text += " (allowed: " + q.allowed;
  if (q.max_rate) {
    char rate[48];
    std::snprintf(rate, sizeof rate, " at a failure rate up to %.2f", *q.max_rate);
    text += rate;
  }
  return text + ", until " + q.expires + ")";
}

}  // namespace

std::string today_utc() {
  return utc_now("%Y-%m-%d");
}

std::vector<Quirk> load_quirks(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw language::ScenarioError({path, 0, 0}, "cannot read the quirks file");
  } catch (const YAML::Exception& e) {
    throw language::ScenarioError({path, e.mark.line + 1, e.mark.column + 1}, e.msg);
  }
  yaml::MapReader top(root, path, "quirks file");
  const auto list = top.require("quirks");
  top.finish();
  if (!list.IsSequence())
    throw language::ScenarioError(yaml::mark_of(list, path),
                                  "quirks must be a list, got " + yaml::kind_name(list));
  static const std::regex date(R"(\d{4}-\d{2}-\d{2})");
  std::vector<Quirk> quirks;
  for (const auto& node : list) {
    yaml::MapReader r(node, path, "quirk");
    Quirk q;
    q.mark = r.mark();
    q.check = yaml::as_string(r.require("check"), path, "check");
    if (r.has("implementation"))
      q.implementation = yaml::as_string(r.get("implementation"), path, "implementation");
    q.allowed = yaml::one_of(r.require("allowed"), path, "allowed", allowed_grades());
    if (r.has("max_rate")) {
      const auto node_rate = r.get("max_rate");
      double rate = -1;
      try {
        rate = node_rate.as<double>();
      } catch (const YAML::Exception&) {
      }
      if (rate < 0 || rate > 1)
        throw language::ScenarioError(
            yaml::mark_of(node_rate, path),
            "max_rate: a failure rate from 0 to 1, got " + yaml::kind_name(node_rate));
      if (severity(q.allowed) < severity("FAIL"))
        throw language::ScenarioError(
            yaml::mark_of(node_rate, path),
            "max_rate is a known race's: it needs allowed: FAIL or ERROR");
      q.max_rate = rate;
    }
    q.reason = yaml::as_string(r.require("reason"), path, "reason");
    const auto expires = r.require("expires");
    q.expires = yaml::as_string(expires, path, "expires");
    if (!std::regex_match(q.expires, date))
      throw language::ScenarioError(yaml::mark_of(expires, path),
                                    "expires: a date as YYYY-MM-DD, got '" + q.expires + "'");
    r.finish();
    quirks.push_back(std::move(q));
  }
  return quirks;
}

namespace {

// The first quirk for this implementation whose check glob matches one of the row's names.
std::optional<std::size_t> quirk_for(const std::vector<Quirk>& quirks,
                                     const std::vector<std::string>& names,
                                     const std::string& implementation) {
  for (std::size_t i = 0; i < quirks.size(); ++i) {
    if (!glob(quirks[i].implementation, implementation)) continue;
    for (const auto& name : names)
      if (glob(quirks[i].check, name)) return i;
  }
  return std::nullopt;
}

struct BaselineTally {
  std::map<std::string, int> before;  // the baseline's rows: key -> badness
  int regressions = 0, improvements = 0, known = 0;
};

// With a baseline, a row is bad only when it got worse or is new and failing.
bool bad_against(BaselineTally& tally, const json& row, const std::string& key, int now,
                 bool failing, std::vector<std::string>& lines) {
  const auto it = tally.before.find(key);
  if (it == tally.before.end()) {
    if (failing) lines.push_back("new and failing: " + key + ": " + rate_text(row));
    return failing;
  }
  if (now > it->second) {
    lines.push_back("regression: " + key + ": " + rate_text(row));
    return true;
  }
  if (now < it->second) {
    ++tally.improvements;
    lines.push_back("improvement: " + key + ": now " + row.value("verdict", ""));
  } else if (failing) {
    ++tally.known;  // as bad as the baseline: known, not a regression
  }
  return false;
}

// Marks the row with its quirk and says what the quirk made of it; true when it allows it.
bool apply_quirk(const Quirk& quirk, json& row, const std::string& key, int now, bool& used,
                 std::vector<std::string>& lines) {
  row["quirk"] = {{"allowed", quirk.allowed},
                  {"reason", quirk.reason},
                  {"expires", quirk.expires},
                  {"where", quirk.mark.to_string()}};
  if (quirk.max_rate) row["quirk"]["max_rate"] = *quirk.max_rate;
  const bool allowed = allows(quirk, row);
  if (now > 0 || quirk.max_rate) {  // a race's rate is shown even when it passed
    used = true;
    lines.push_back(std::string(allowed ? "allowed" : "NOT allowed") + ": " + key + ": " +
                    rate_text(row) + "\n    by quirk " + describe(quirk) + "\n    " + quirk.reason);
  }
  return allowed;
}

// Expired quirks fail the run; unused ones are reported.
bool report_quirks(const std::vector<Quirk>& quirks, const std::vector<bool>& matched,
                   const std::vector<bool>& used, const std::string& today,
                   std::vector<std::string>& lines) {
  bool expired = false;
  for (std::size_t i = 0; i < quirks.size(); ++i) {
    const auto& q = quirks[i];
    if (q.expires < today) {
      expired = true;
      lines.push_back("EXPIRED quirk " + describe(q) + ": " + q.reason +
                      " (fix it or renew it with a new reason and date)");
    } else if (!matched[i]) {
      lines.push_back("unused quirk " + describe(q) + ": it matches nothing in this run");
    } else if (!used[i]) {
      lines.push_back("quirk not needed this time " + describe(q) + ": every match passed");
    }
  }
  return expired;
}

std::string baseline_summary(const BaselineTally& tally, const json& results) {
  std::set<std::string> now_keys;
  for (const auto& row : results["scenarios"]) now_keys.insert(key_of(row));
  std::size_t missing = 0;
  for (const auto& [key, _] : tally.before) missing += now_keys.count(key) ? 0 : 1;
  std::string summary = "against the baseline: " + std::to_string(tally.regressions) +
                        " regression(s), " + std::to_string(tally.improvements) +
                        " improvement(s), " + std::to_string(tally.known) + " known failure(s)";
  if (missing) summary += ", " + std::to_string(missing) + " of its result(s) not in this run";
  return summary;
}

}  // namespace

Acceptance judge(json& results, const std::vector<Quirk>& quirks,
                 const std::optional<json>& baseline, bool strict, const std::string& today) {
  Acceptance out;
  const std::string implementation =
      results.value("subject", json::object()).value("name", std::string("run"));
  BaselineTally tally;
  if (baseline)
    for (const auto& row : baseline->value("scenarios", json::array()))
      tally.before[key_of(row)] = badness(row);
  std::vector<bool> matched(quirks.size(), false), used(quirks.size(), false);
  for (auto& row : results["scenarios"]) {
    const auto names = names_of(row);
    const std::string& key = names.front();
    const int now = badness(row);
    const bool failing = now >= failing_from(strict);
    bool bad = baseline ? bad_against(tally, row, key, now, failing, out.lines) : failing;
    if (const auto q = quirk_for(quirks, names, implementation)) {
      matched[*q] = true;
      bool quirk_used = false;
      if (apply_quirk(quirks[*q], row, key, now, quirk_used, out.lines)) bad = false;
      if (quirk_used) used[*q] = true;
    }
    if (bad) {
      out.failed = true;
      ++tally.regressions;
    }
  }
  if (report_quirks(quirks, matched, used, today, out.lines)) out.failed = true;
  if (baseline) out.lines.push_back(baseline_summary(tally, results));
  return out;
}

}  // namespace fh::reports
