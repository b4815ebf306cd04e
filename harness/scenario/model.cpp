#include "scenario/model.hpp"

#include <sstream>

namespace fh::scenario {

std::string_view verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::pass:
      return "PASS";
    case Verdict::non_strict:
      return "NON-STRICT";
    case Verdict::informational:
      return "INFORMATIONAL";
    case Verdict::fail:
      return "FAIL";
    case Verdict::error:
      return "ERROR";
    case Verdict::skip:
      return "SKIP";
  }
  return "?";
}

std::optional<Verdict> parse_verdict(std::string_view text) {
  for (auto v : {Verdict::pass, Verdict::non_strict, Verdict::informational, Verdict::fail,
                 Verdict::error, Verdict::skip})
    if (verdict_name(v) == text) return v;
  return std::nullopt;
}

int severity(Verdict verdict) {
  switch (verdict) {
    case Verdict::skip:
      return 0;
    case Verdict::pass:
      return 1;
    case Verdict::informational:
      return 2;
    case Verdict::non_strict:
      return 3;
    case Verdict::fail:
      return 4;
    case Verdict::error:
      return 5;
  }
  return 5;
}

std::string_view level_name(Certification::Level level) {
  switch (level) {
    case Certification::Level::must:
      return "MUST";
    case Certification::Level::should:
      return "SHOULD";
    case Certification::Level::field:
      return "FIELD";
  }
  return "?";
}

Verdict worst(Verdict a, Verdict b) {
  return severity(a) >= severity(b) ? a : b;
}

bool MsRange::contains(double value) const {
  return (!min || value >= *min) && (!max || value <= *max);
}

std::string MsRange::to_string() const {
  auto fmt = [](double v) {
    std::ostringstream o;
    o << v;
    return o.str();
  };
  if (min && max) return fmt(*min) + ".." + fmt(*max) + " ms";
  if (min) return ">= " + fmt(*min) + " ms";
  return "<= " + fmt(*max) + " ms";
}

std::string Expectation::describe() const {
  std::ostringstream o;
  o << "[" << verdict_name(grade) << "]";
  if (!status.empty()) {
    o << " status=";
    for (std::size_t i = 0; i < status.size(); ++i) o << (i ? "|" : "") << status[i];
  }
  if (outcome) o << " outcome=" << *outcome;
  if (body_as_probe) o << " body=probe";
  if (body_bytes) o << " body_bytes=" << *body_bytes;
  if (body_sha256) o << " body_sha256=" << body_sha256->substr(0, 12) << "..";
  for (const auto& c : body_contains) o << " body_contains=\"" << c << "\"";
  for (const auto& [n, v] : headers) o << " " << n << ": " << v;
  if (first_byte_ms) o << " first_byte_ms " << first_byte_ms->to_string();
  if (first_body_byte_ms) o << " first_body_byte_ms " << first_body_byte_ms->to_string();
  if (last_byte_ms) o << " last_byte_ms " << last_byte_ms->to_string();
  if (streamed_ms) o << " streamed_ms " << streamed_ms->to_string();
  if (!because.empty()) o << " (" << because << ")";
  return o.str();
}

std::string EventCheck::describe() const {
  std::ostringstream o;
  o << that.to_string();
  if (!detail_contains.empty()) o << " with '" << detail_contains << "'";
  if (count_min && count_max && *count_min == *count_max)
    o << " x" << *count_min;
  else if (count_min || count_max)
    o << " x" << (count_min ? std::to_string(*count_min) : "0") << ".."
      << (count_max ? std::to_string(*count_max) : "");
  if (after) o << " within " << within_ms.value_or(0) << " ms after " << after->to_string();
  if (before) o << " before " << before->to_string();
  if (value_equals) o << " with the value of " << value_equals->to_string();
  return o.str();
}

}  // namespace fh::scenario
