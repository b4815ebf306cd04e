#include "runner/verdict.hpp"

#include <cmath>
#include <sstream>

#include "util/sha256.hpp"

namespace fh::runner {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string fmt_ms(const std::optional<double>& ms) {
  if (!ms) return "never";
  std::ostringstream o;
  o.precision(1);
  o << std::fixed << *ms << " ms";
  return o.str();
}

void check_range(Check& c, const char* what, const std::optional<scenario::MsRange>& range,
                 const std::optional<double>& actual) {
  if (!range) return;
  if (!actual || !range->contains(*actual)) {
    c.matched = false;
    c.mismatches.push_back(std::string(what) + ": expected " + range->to_string() + ", got " +
                           fmt_ms(actual));
  }
}

}  // namespace

ProbeBody expected_probe_body(const scenario::RequestDef& request) {
  ProbeBody out;
  const auto& q = request.probe.value_or(probe::ProbeQuery{});
  if (q.size) {
    out.bytes = *q.size;
    out.sha256 = probe::pattern_sha256(*q.size);
  } else if (q.echo) {
    out.bytes = request.spec.body.size();
    out.sha256 = util::sha256_hex(request.spec.body);
  } else {
    out.contains = {"REQUEST_METHOD=" + request.spec.method + "\n",
                    "STDIN-BYTES=" + std::to_string(request.spec.body.size()) + "\n",
                    "STDIN-SHA256=" + util::sha256_hex(request.spec.body) + "\n"};
  }
  return out;
}

Check check(const scenario::Expectation& e, const scenario::RequestDef& request,
            const client::Exchange& x, bool hung) {
  Check c;
  auto mismatch = [&](std::string text) {
    c.matched = false;
    c.mismatches.push_back(std::move(text));
  };
  const std::string actual_outcome = hung ? "hung" : std::string(client::outcome_name(x.outcome));
  // Unless an expectation names another outcome, it asks for a complete response: a
  // truncated 200 or a hang must never pass by omission.
  const std::string wanted_outcome = e.outcome.value_or("complete");
  if (wanted_outcome != actual_outcome)
    mismatch("outcome: expected " + wanted_outcome + ", got " + actual_outcome);
  if (!e.status.empty()) {
    bool any = false;
    std::string list;
    for (auto s : e.status) {
      any |= (s == x.status);
      list += (list.empty() ? "" : "|") + std::to_string(s);
    }
    if (!any)
      mismatch("status: expected " + list + ", got " +
               (x.status ? std::to_string(x.status) : "none"));
  }
  if (e.body_as_probe) {
    const auto want = expected_probe_body(request);
    if (want.bytes && *want.bytes != x.body_bytes)
      mismatch("body (probe): expected " + std::to_string(*want.bytes) + " bytes, got " +
               std::to_string(x.body_bytes));
    else if (want.sha256 && *want.sha256 != x.body_sha256)
      mismatch("body (probe): expected sha256 " + want.sha256->substr(0, 16) + ".., got " +
               x.body_sha256.substr(0, 16) + "..");
    for (const auto& piece : want.contains)
      if (x.body_prefix.find(piece) == std::string::npos) {
        auto shown = piece.substr(0, piece.size() - 1);  // without the newline
        mismatch("body (probe): expected a line '" + shown + "'");
      }
  }
  if (e.body_bytes && *e.body_bytes != x.body_bytes)
    mismatch("body_bytes: expected " + std::to_string(*e.body_bytes) + ", got " +
             std::to_string(x.body_bytes));
  if (e.body_sha256 && *e.body_sha256 != x.body_sha256)
    mismatch("body_sha256: expected " + e.body_sha256->substr(0, 16) + ".., got " +
             x.body_sha256.substr(0, 16) + "..");
  for (const auto& piece : e.body_contains)
    if (x.body_prefix.find(piece) == std::string::npos)
      mismatch("body_contains: '" + piece + "' not in the body");
  for (const auto& [name, value] : e.headers) {
    std::optional<std::string> got;
    for (const auto& [n, v] : x.headers)
      if (lower(n) == lower(name)) got = v;
    if (!got || *got != value)
      mismatch("header " + name + ": expected '" + value + "', got " +
               (got ? "'" + *got + "'" : "none"));
  }
  check_range(c, "first_byte_ms", e.first_byte_ms, x.first_byte_ms);
  check_range(c, "first_body_byte_ms", e.first_body_byte_ms, x.first_body_byte_ms);
  check_range(c, "last_byte_ms", e.last_byte_ms, x.last_byte_ms);
  if (e.streamed_ms) {
    std::optional<double> gap;
    if (x.first_body_byte_ms && x.last_byte_ms) gap = *x.last_byte_ms - *x.first_body_byte_ms;
    check_range(c, "streamed_ms (last byte - first body byte)", e.streamed_ms, gap);
  }
  return c;
}

RequestVerdict judge(const scenario::RequestDef& request, const client::Exchange& x, bool hung,
                     std::uint32_t deadline_ms) {
  RequestVerdict v;
  std::vector<Check> checks;
  for (std::size_t i = 0; i < request.expect.size(); ++i) {
    const auto& e = request.expect[i];
    checks.push_back(check(e, request, x, hung));
    if (checks.back().matched) {
      v.verdict = e.grade;
      v.matched = static_cast<int>(i);
      v.reason = "request " + request.name + ": " + x.summary() + " matches " + e.describe();
      return v;
    }
  }
  std::ostringstream o;
  o << "request " << request.name << ": ";
  if (hung)
    o << "hung: still awaiting " << (x.awaiting.empty() ? "the response" : x.awaiting) << " at the "
      << deadline_ms << " ms deadline; ";
  o << "no acceptable outcome.\n    actual:   " << x.summary();
  if (!x.error.empty()) o << " (" << x.error << ")";
  for (std::size_t i = 0; i < request.expect.size(); ++i) {
    o << "\n    expected: " << request.expect[i].describe() << "\n      but ";
    for (std::size_t m = 0; m < checks[i].mismatches.size(); ++m)
      o << (m ? "; " : "") << checks[i].mismatches[m];
  }
  v.verdict = Verdict::fail;
  v.reason = o.str();
  return v;
}

namespace {

/// The events a check is about: its `that`, with `detail_contains` when it says one.
bool is_checked_event(const scenario::EventCheck& c, const events::Event& e) {
  return c.that.matches(e) &&
         (c.detail_contains.empty() || e.detail.find(c.detail_contains) != std::string::npos);
}

const events::Event* first_of(const events::Selector& selector,
                              const std::vector<events::Event>& events) {
  for (const auto& e : events)
    if (selector.matches(e)) return &e;
  return nullptr;
}

}  // namespace

std::optional<events::Clock::time_point> open_until(const scenario::EventCheck& c,
                                                    const std::vector<events::Event>& events,
                                                    events::Clock::time_point now) {
  if (!c.after || !c.within_ms || !c.unobservable.empty()) return std::nullopt;
  const auto* anchor = first_of(*c.after, events);
  if (!anchor) return std::nullopt;
  for (const auto& e : events)
    if (e.at >= anchor->at && is_checked_event(c, e)) return std::nullopt;
  const auto closes =
      anchor->at + std::chrono::microseconds(static_cast<std::int64_t>(*c.within_ms * 1000));
  if (now >= closes) return std::nullopt;
  return closes;
}

CheckVerdict judge_check(const scenario::EventCheck& c, const std::vector<events::Event>& events) {
  if (!c.unobservable.empty())  // if_observable: nothing to judge in this topology
    return CheckVerdict{Verdict::skip, "check " + c.describe() + " at " + c.mark.to_string() +
                                           " judges nothing here: " + c.unobservable};
  std::vector<const events::Event*> matching;
  for (const auto& e : events)
    if (is_checked_event(c, e)) matching.push_back(&e);
  auto ms = [](const events::Event& from, const events::Event& to) {
    return std::chrono::duration<double, std::milli>(to.at - from.at).count();
  };
  std::vector<std::string> problems;
  const auto n = matching.size();
  if ((c.count_min && n < *c.count_min) || (c.count_max && n > *c.count_max)) {
    // What was seen, when it should not have been: the first one's detail names it.
    std::string first;
    if (c.count_max && n > *c.count_max && !matching.front()->detail.empty()) {
      first = matching.front()->detail;
      if (first.size() > 200) first = first.substr(0, 197) + "...";
      first = ", the first: " + first;
    }
    problems.push_back("seen " + std::to_string(n) + " time(s)" + first);
  }
  if (c.after) {
    const auto* anchor = first_of(*c.after, events);
    if (!anchor) {
      if (!c.if_after_happened) problems.push_back(c.after->to_string() + " never happened");
    } else {
      const events::Event* next = nullptr;
      for (const auto* e : matching)
        if (e->at >= anchor->at) {
          next = e;
          break;
        }
      if (!next)
        problems.push_back("not seen after " + c.after->to_string());
      else if (ms(*anchor, *next) > *c.within_ms)
        problems.push_back("came " + fmt_ms(ms(*anchor, *next)) + " after " + c.after->to_string());
    }
  }
  if (c.before) {
    const auto* other = first_of(*c.before, events);
    if (matching.empty())
      problems.push_back("never happened, so not before " + c.before->to_string());
    else if (other && other->at < matching.front()->at)
      problems.push_back(c.before->to_string() + " came first");
  }
  if (c.value_equals) {
    const auto* other = first_of(*c.value_equals, events);
    if (matching.empty() || !other)
      problems.push_back(
          "no value to compare (" +
          std::string(matching.empty() ? c.that.to_string() : c.value_equals->to_string()) +
          " never happened)");
    else if (matching.front()->value != other->value)
      problems.push_back("value " + std::to_string(matching.front()->value) + " != " +
                         std::to_string(other->value) + " of " + c.value_equals->to_string());
  }
  CheckVerdict v;
  if (problems.empty()) {
    v.verdict = Verdict::pass;
    v.reason = "check " + c.describe() + ": holds";
    return v;
  }
  v.verdict = c.otherwise;
  v.reason = "check " + c.describe() + ": ";
  for (std::size_t i = 0; i < problems.size(); ++i) v.reason += (i ? "; " : "") + problems[i];
  if (!c.because.empty()) v.reason += " (" + c.because + ")";
  return v;
}

Interval wilson_interval(std::uint64_t k, std::uint64_t n, double z) {
  if (n == 0) return {};
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(k) / nn;
  const double z2 = z * z;
  const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / (1 + z2 / nn);
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

}  // namespace fh::runner
