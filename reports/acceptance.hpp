// What a suite may do and still pass: allowed quirks (a YAML file of check globs, each with
// the implementation it applies to, the worst grade allowed, a reason and an expiry date; a
// known race also with the failure rate allowed) and a baseline (a committed results
// document: only a regression fails). Works on the results document (to_json), so `run`,
// `certify` and their JSON files are judged alike.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "language/source_mark.hpp"

namespace fh::reports {

struct Quirk {
  std::string check;                 // glob over the row's key (id[variant], check id[variant])
  std::string implementation = "*";  // glob over the results' subject name ("run" for run)
  std::string allowed;  // the worst grade allowed: NON-STRICT, INFORMATIONAL, FAIL, ERROR
  std::optional<double> max_rate;  // a known race: its failure rate may be up to this
  std::string reason;
  std::string expires;  // YYYY-MM-DD; after that day the quirk fails the run
  language::SourceMark mark;
};

/// Reads a quirks file; throws language::ScenarioError (file:line:column) on any mistake:
/// an unknown key (did you mean), a grade that is not one, a date that is not YYYY-MM-DD.
std::vector<Quirk> load_quirks(const std::string& path);

/// What the acceptance made of a results document.
struct Acceptance {
  bool failed = false;             // the exit status's verdict
  std::vector<std::string> lines;  // what to print, one finding a line
};

/// Judges `results` (and marks each row a quirk covers with "quirk"). Without a baseline:
/// fails on an unexpected FAIL/ERROR no quirk allows (NON-STRICT too with `strict`); with
/// one: fails only on a row that got worse than the baseline or is new and failing, and
/// reports improvements. Either way an expired quirk fails, an unused one is reported.
/// `today` is YYYY-MM-DD.
Acceptance judge(nlohmann::json& results, const std::vector<Quirk>& quirks,
                 const std::optional<nlohmann::json>& baseline, bool strict,
                 const std::string& today);

/// Today in UTC as YYYY-MM-DD.
std::string today_utc();

}  // namespace fh::reports
