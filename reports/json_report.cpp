#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "reports/reports.hpp"

namespace fh::reports {

using nlohmann::json;
using scenario::Verdict;

namespace {

json optional_ms(const std::optional<double>& ms) {
  return ms ? json(*ms) : json(nullptr);
}

json request_json(const runner::RequestResult& r) {
  const auto& x = r.exchange;
  json out{{"name", r.name},
           {"verdict", scenario::verdict_name(r.verdict)},
           {"outcome", r.hung ? "hung" : client::outcome_name(x.outcome)},
           {"status", x.status ? json(x.status) : json(nullptr)},
           {"framing", client::framing_name(x.framing)},
           {"body_bytes", x.body_bytes},
           {"body_sha256", x.body_sha256},
           {"connect_ms", optional_ms(x.connect_ms)},
           {"first_byte_ms", optional_ms(x.first_byte_ms)},
           {"first_body_byte_ms", optional_ms(x.first_body_byte_ms)},
           {"last_byte_ms", optional_ms(x.last_byte_ms)},
           {"reason", r.reason}};
  // What the response broke of RFC 9112 and the client still read (the line quoted).
  if (!x.deviations.empty()) out["deviations"] = x.deviations;
  if (const auto& load = r.load) {
    json verdicts = json::object();
    for (const auto& [v, n] : load->verdicts) verdicts[std::string(scenario::verdict_name(v))] = n;
    out["load"] = {{"started", load->started},
                   {"finished", load->finished},
                   {"retried", load->retried},
                   {"verdicts", verdicts},
                   {"latency_ms",
                    {{"p50", load->percentile(0.50)},
                     {"p99", load->percentile(0.99)},
                     {"max", load->percentile(1.0)}}}};
    if (load->first_bad) out["load"]["first_bad"] = *load->first_bad;
  }
  return out;
}

json counts_json(const std::map<Verdict, std::uint64_t>& counts) {
  json out = json::object();
  for (auto v : {Verdict::pass, Verdict::non_strict, Verdict::informational, Verdict::fail,
                 Verdict::error, Verdict::skip}) {
    auto it = counts.find(v);
    out[std::string(scenario::verdict_name(v))] = it == counts.end() ? 0 : it->second;
  }
  return out;
}

}  // namespace

json to_json(const runner::SuiteReport& suite) {
  json rows = json::array();
  for (const auto& s : suite.scenarios) {
    json row{{"id", s.scenario.id},       {"file", s.scenario.file},
             {"title", s.scenario.title}, {"verdict", scenario::verdict_name(s.verdict)},
             {"reason", s.reason},        {"duration_ms", s.duration_ms}};
    if (!s.scenario.variant.empty()) row["variant"] = s.scenario.variant;
    // What was acceptable, as the scenario wrote it: each request's outcomes, the event checks.
    json expect = json::array(), checks = json::array();
    for (const auto& request : s.scenario.requests)
      for (const auto& e : request.expect) expect.push_back(request.name + ": " + e.describe());
    for (const auto& check : s.scenario.checks) checks.push_back(check.describe());
    row["expect"] = expect;
    row["checks"] = checks;
    if (const auto& c = s.scenario.certify) {
      row["certify"] = {{"id", c->id},
                        {"party", c->party},
                        {"section", c->section},
                        {"level", scenario::level_name(c->level)},
                        {"requirement", c->requirement}};
      if (!c->bug.empty()) row["certify"]["bug"] = c->bug;
    }
    if (s.scenario.expected_verdict) {
      row["emulates"] = s.scenario.emulates;
      row["expected_verdict"] = scenario::verdict_name(*s.scenario.expected_verdict);
      row["as_expected"] = s.as_expected();
    }
    if (suite.repeat > 1) {
      row["runs"] = s.runs.size();
      row["verdict_counts"] = counts_json(s.counts);
      row["rate"] = s.failure_rate;
      row["rate_ci95"] = {s.failure_rate_ci.low, s.failure_rate_ci.high};
    }
    // The requests of the worst run, which is the run the verdict describes.
    for (const auto& run : s.runs)
      if (run.verdict == s.verdict) {
        json requests = json::array();
        for (const auto& r : run.requests) requests.push_back(request_json(r));
        row["requests"] = requests;
        break;
      }
    // Where the kept evidence is (the scenario's folder; run-N/ below it with --repeat).
    for (const auto& run : s.runs)
      if (!run.evidence_dir.empty()) {
        row["evidence"] =
            (suite.repeat > 1 ? run.evidence_dir.parent_path() : run.evidence_dir).string();
        break;
      }
    rows.push_back(row);
  }
  return json{{"scenarios", rows},
              {"summary",
               {{"scenarios", suite.scenarios.size()},
                {"repeat", suite.repeat},
                {"verdicts", counts_json(suite.counts)},
                {"failed", suite.failed()},
                {"duration_ms", suite.duration_ms}}}};
}

std::string utc_now(const char* format) {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[64];
  std::strftime(text, sizeof text, format, &tm);
  return text;
}

void write_text_file(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text;
    return;
  }
  // A report's folder is made as needed (build/report/x.html on a fresh tree).
  if (const auto dir = std::filesystem::path(path).parent_path(); !dir.empty()) {
    std::error_code ignored;
    std::filesystem::create_directories(dir, ignored);
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace fh::reports
