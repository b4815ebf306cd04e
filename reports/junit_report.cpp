#include <filesystem>
#include <sstream>

#include "reports/reports.hpp"

namespace fh::reports {

using scenario::Verdict;

namespace {

/// XML 1.0 text: escape markup, drop control characters XML cannot carry.
std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') break;
        out += static_cast<char>(c);
    }
  }
  return out;
}

std::string seconds(double ms) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(3);
  o << ms / 1000.0;
  return o.str();
}

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

/// "scenarios/faults/x.yaml" -> "scenarios.faults": CI tools group test cases by class.
std::string class_name(const std::string& file) {
  auto parent = std::filesystem::path(file).parent_path().generic_string();
  while (parent.starts_with("./") || parent.starts_with("/"))
    parent = parent.substr(parent.starts_with("/") ? 1 : 2);
  for (auto& c : parent)
    if (c == '/') c = '.';
  return parent.empty() ? "scenarios" : parent;
}

}  // namespace

std::string to_junit_xml(const runner::SuiteReport& suite) {
  auto count = [&](Verdict v) {
    auto it = suite.counts.find(v);
    return it == suite.counts.end() ? 0 : it->second;
  };
  std::ostringstream o;
  std::uint64_t failures = 0;  // FAILs that were not expected, and expectations that failed
  for (const auto& s : suite.scenarios)
    if (s.failed() && s.verdict != Verdict::error) ++failures;
  const auto attrs = " tests=\"" + std::to_string(suite.scenarios.size()) + "\" failures=\"" +
                     std::to_string(failures) + "\" errors=\"" +
                     std::to_string(count(Verdict::error)) + "\" skipped=\"" +
                     std::to_string(count(Verdict::skip)) + "\" time=\"" +
                     seconds(suite.duration_ms) + "\"";
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o << "<testsuites name=\"fcgi-harness\"" << attrs << ">\n";
  o << "  <testsuite name=\"fcgi-harness\"" << attrs << ">\n";
  for (const auto& s : suite.scenarios) {
    o << "    <testcase classname=\"" << xml_escape(class_name(s.scenario.file)) << "\" name=\""
      << xml_escape(s.scenario.display_name()) << "\" file=\"" << xml_escape(s.scenario.file)
      << "\" time=\"" << seconds(s.duration_ms) << "\">\n";
    const auto verdict = std::string(scenario::verdict_name(s.verdict));
    if (s.scenario.expected_verdict) {
      // An emulated bug: the test case passes when the harness graded it as it must.
      if (!s.as_expected())
        o << "      <failure type=\"NOT-AS-EXPECTED\" message=\"expected "
          << scenario::verdict_name(*s.scenario.expected_verdict) << " (emulates "
          << xml_escape(s.scenario.emulates) << "), got " << verdict << "\">"
          << xml_escape(s.reason) << "</failure>\n";
    } else if (s.verdict == Verdict::fail) {
      o << "      <failure type=\"FAIL\" message=\"" << xml_escape(first_line(s.reason)) << "\">"
        << xml_escape(s.reason) << "</failure>\n";
    } else if (s.verdict == Verdict::error) {
      o << "      <error type=\"ERROR\" message=\"" << xml_escape(first_line(s.reason)) << "\">"
        << xml_escape(s.reason) << "</error>\n";
    } else if (s.verdict == Verdict::skip) {
      o << "      <skipped message=\"" << xml_escape(first_line(s.reason)) << "\"/>\n";
    }
    std::ostringstream out;
    out << "verdict: " << verdict << "\n";
    if (s.scenario.expected_verdict) out << "emulates: " << s.scenario.emulates << "\n";
    out << s.reason << "\n";
    if (s.runs.size() > 1) {
      out << "runs: " << s.runs.size() << ", failure rate " << s.failure_rate << " (95% CI "
          << s.failure_rate_ci.low << ".." << s.failure_rate_ci.high << ")\n";
    }
    o << "      <system-out>" << xml_escape(out.str()) << "</system-out>\n";
    o << "    </testcase>\n";
  }
  o << "  </testsuite>\n</testsuites>\n";
  return o.str();
}

}  // namespace fh::reports
