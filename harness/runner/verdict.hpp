// Judging one request: the observed exchange against the scenario's acceptable outcomes.
// The first expectation that matches gives the grade; none matching is FAIL with
// expected-vs-actual; a request still pending at the deadline is "hung".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "client/http_client.hpp"
#include "scenario/model.hpp"

namespace fh::runner {

using scenario::Verdict;

/// What the body must be when an expectation says `body: probe`.
struct ProbeBody {
  std::optional<std::uint64_t> bytes;
  std::optional<std::string> sha256;
  std::vector<std::string> contains;
};
ProbeBody expected_probe_body(const scenario::RequestDef& request);

struct Check {
  bool matched = true;
  std::vector<std::string> mismatches;  // "status: expected 502, got 200"
};
Check check(const scenario::Expectation& expectation, const scenario::RequestDef& request,
            const client::Exchange& exchange, bool hung);

struct RequestVerdict {
  Verdict verdict = Verdict::fail;
  std::string reason;
  int matched = -1;  // index of the matching expectation
};
RequestVerdict judge(const scenario::RequestDef& request, const client::Exchange& exchange,
                     bool hung, std::uint32_t deadline_ms);

/// One event check against the run's events. `verdict` is PASS when it holds, else the
/// check's `otherwise` grade; `reason` says what was found either way.
struct CheckVerdict {
  Verdict verdict = Verdict::pass;
  std::string reason;
};
CheckVerdict judge_check(const scenario::EventCheck& check,
                         const std::vector<events::Event>& events);

/// A within-check ("that ... within N ms after `after`") whose `after` event came but whose
/// `that` event has not, with its window still open at `now`: when the window closes. Nullopt
/// for a check that is decided, has no anchor yet, or is not a within-check. The run waits on
/// this after the client finished, so the check is judged on what happened.
std::optional<events::Clock::time_point> open_until(const scenario::EventCheck& check,
                                                    const std::vector<events::Event>& events,
                                                    events::Clock::time_point now);

/// Wilson score interval for a proportion k/n (95 % with z = 1.96); {0,1} when n == 0.
struct Interval {
  double low = 0;
  double high = 1;
};
Interval wilson_interval(std::uint64_t k, std::uint64_t n, double z = 1.96);

}  // namespace fh::runner
