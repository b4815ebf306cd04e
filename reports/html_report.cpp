#include "reports/html_report.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "reports/html_assets.hpp"
#include "reports/reports.hpp"

namespace fh::reports {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// FastCGI 1.0's section titles, as the specification numbers them (fcgi-spec.html).
const std::map<std::string, std::string>& fastcgi_sections() {
  static const std::map<std::string, std::string> titles{
      {"2", "Initial process state"},
      {"3", "Protocol basics"},
      {"3.1", "Notation"},
      {"3.2", "Accepting transport connections"},
      {"3.3", "Records"},
      {"3.4", "Name-value pairs"},
      {"3.5", "Closing transport connections"},
      {"4", "Management record types"},
      {"4.1", "FCGI_GET_VALUES, FCGI_GET_VALUES_RESULT"},
      {"4.2", "FCGI_UNKNOWN_TYPE"},
      {"5", "Application record types"},
      {"5.1", "FCGI_BEGIN_REQUEST"},
      {"5.2", "Name-value pair stream: FCGI_PARAMS"},
      {"5.3", "Byte streams: FCGI_STDIN, FCGI_DATA, FCGI_STDOUT, FCGI_STDERR"},
      {"5.4", "FCGI_ABORT_REQUEST"},
      {"5.5", "FCGI_END_REQUEST"},
      {"6", "Roles"},
      {"6.1", "Role protocols"},
      {"6.2", "Responder"},
      {"6.3", "Authorizer"},
      {"6.4", "Filter"},
  };
  return titles;
}

// "5.3" -> "FastCGI 1.0 §5.3 Byte streams: ...", "rfc3875-4.1" -> "RFC 3875 §4.1",
// "seed-001" -> "Field report seed 001"; a plain scenario's folder stays as it is.
std::string section_title(const std::string& section) {
  if (section.empty()) return "Other";
  if (auto it = fastcgi_sections().find(section); it != fastcgi_sections().end())
    return "FastCGI 1.0 §" + section + " " + it->second;
  if (section.rfind("rfc", 0) == 0) {
    const auto dash = section.find('-');
    if (dash != std::string::npos)
      return "RFC " + section.substr(3, dash - 3) + " §" + section.substr(dash + 1);
  }
  if (section.rfind("seed-", 0) == 0) return "Field report seed " + section.substr(5);
  return section;
}

// FastCGI sections first in their numbering, then the RFCs, then the field reports, then
// plain scenarios' folders; within each, numbers compare as numbers ("5.10" after "5.9").
std::vector<int> numbers_in(const std::string& text) {
  std::vector<int> out;
  int n = -1;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      n = (n < 0 ? 0 : n * 10) + (c - '0');
    } else if (n >= 0) {
      out.push_back(n);
      n = -1;
    }
  }
  if (n >= 0) out.push_back(n);
  return out;
}

std::pair<int, std::vector<int>> section_order(const std::string& section) {
  const int family = fastcgi_sections().count(section) ? 0
                     : section.rfind("rfc", 0) == 0    ? 1
                     : section.rfind("seed-", 0) == 0  ? 2
                                                       : 3;
  return {family, numbers_in(section)};
}

std::string row_key(const json& row) {
  const std::string base =
      row.contains("certify") ? row["certify"].value("id", "") : row.value("id", "");
  const std::string variant = row.value("variant", "");
  return variant.empty() ? base : base + "[" + variant + "]";
}

// A plain scenario's group: its folder (scenarios/faults/x.yaml -> scenarios/faults).
std::string row_section(const json& row) {
  if (row.contains("certify")) return row["certify"].value("section", "");
  const auto folder = fs::path(row.value("file", "")).parent_path();
  std::error_code ec;
  const auto here = fs::relative(folder, fs::current_path(ec), ec);
  if (!ec && !here.empty() && here.begin()->string() != "..") return here.generic_string();
  return folder.generic_string();
}

std::string generic_relative(const fs::path& path, const fs::path& base) {
  std::error_code ec;
  const auto absolute = fs::absolute(path, ec);
  auto rel = fs::relative(absolute, fs::absolute(base, ec), ec);
  if (ec || rel.empty()) return absolute.generic_string();
  return rel.generic_string();
}

// The evidence folder a results row names, as it is now: a relative path from the results
// file's folder (an archived report's results and evidence travel together), else from the
// current directory (where the run wrote it).
fs::path resolve_evidence(const std::string& evidence, const fs::path& results_file) {
  if (evidence.empty()) return {};
  std::error_code ec;
  const fs::path as_given(evidence);
  if (as_given.is_relative() && !results_file.empty()) {
    const auto beside = results_file.parent_path() / as_given;
    if (fs::is_directory(beside, ec)) return beside;
  }
  if (fs::is_directory(as_given, ec)) return as_given;
  return {};
}

json read_json_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw std::runtime_error(path.string() + ": not JSON (" + e.what() + ")");
  }
}

// The timeline.json of the run a row's verdict describes, read: the folder's own, or (with
// --repeat) the first run-N/ whose verdict is the row's, else the first run's; nullopt when
// there is none that reads (a damaged one leaves the cell with its links, no picture).
std::optional<json> find_timeline(const fs::path& evidence, const std::string& verdict) {
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_regular_file(evidence / "timeline.json", ec)) {
    files.push_back(evidence / "timeline.json");
  } else {
    for (const auto& entry : fs::directory_iterator(evidence, ec))
      if (entry.is_directory() && fs::is_regular_file(entry.path() / "timeline.json", ec))
        files.push_back(entry.path() / "timeline.json");
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
      return numbers_in(a.parent_path().filename().string()) <
             numbers_in(b.parent_path().filename().string());
    });
  }
  std::optional<json> first;
  for (const auto& file : files) {
    try {
      auto timeline = read_json_file(file);
      if (timeline.value("verdict", "") == verdict) return timeline;
      if (!first) first = std::move(timeline);
    } catch (const std::exception&) {
    }
  }
  return first;
}

// The evidence files a cell links to (pcapng, configs, logs, strace), relative to the report.
json evidence_files(const fs::path& folder, const fs::path& report_dir) {
  constexpr std::size_t kMaxFiles = 60;
  json files = json::array();
  std::vector<fs::path> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) found.push_back(it->path());
  std::sort(found.begin(), found.end());
  for (const auto& file : found) {
    if (files.size() == kMaxFiles) break;
    files.push_back({{"name", generic_relative(file, folder)},
                     {"path", generic_relative(file, report_dir)},
                     {"bytes", fs::file_size(file, ec)}});
  }
  return files;
}

json verdict_counts(const json& results) {
  if (results.contains("summary") && results["summary"].contains("verdicts"))
    return results["summary"]["verdicts"];
  return json::object();
}

std::string column_name(const ResultsSource& source) {
  if (!source.label.empty()) return source.label;
  const auto& subject = source.results.value("subject", json::object());
  if (subject.contains("name")) return subject["name"].get<std::string>();
  if (!source.file.empty()) return source.file.stem().string();
  return "results";
}

std::string now_utc() {
  return utc_now("%Y-%m-%dT%H:%M:%SZ");
}

// Inside <script>, "</" could end the element: JSON allows "<\/" for it.
std::string script_safe(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '<' && i + 1 < text.size() && text[i + 1] == '/') {
      out += "<\\/";
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

// One cell: the row's result as the viewer shows it, and its timeline when one was kept.
json cell_of(const json& row, std::size_t column, const fs::path& results_file,
             const fs::path& report_dir, json& timelines) {
  json cell{{"col", column},
            {"row", row_key(row)},
            {"verdict", row.value("verdict", "ERROR")},
            {"expected", row.value("as_expected", false)},
            {"reason", row.value("reason", "")},
            {"duration_ms", row.value("duration_ms", 0.0)},
            {"expect", row.value("expect", json::array())},
            {"checks", row.value("checks", json::array())},
            {"requests", row.value("requests", json::array())},
            {"timeline", nullptr}};
  for (const char* key : {"runs", "verdict_counts", "rate", "rate_ci95", "quirk", "emulates"})
    if (row.contains(key)) cell[key] = row[key];
  const auto evidence = resolve_evidence(row.value("evidence", ""), results_file);
  if (evidence.empty()) return cell;
  cell["evidence"] = generic_relative(evidence, report_dir) + "/";
  cell["files"] = evidence_files(evidence, report_dir);
  if (auto timeline = find_timeline(evidence, cell["verdict"])) {
    timelines.push_back(std::move(*timeline));
    cell["timeline"] = timelines.size() - 1;
  }
  return cell;
}

}  // namespace

std::string to_html(const json& data) {
  const std::string title = data.value("title", "fcgi-harness report");
  std::string out;
  out += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  out += "<link rel=\"icon\" href=\"data:,\"><title>" + html_escape(title) + "</title>\n<style>";
  out += html_assets::css;
  out += "</style></head>\n<body><div id=\"fh-app\"></div>\n";
  out += "<script id=\"fh-report-data\" type=\"application/json\">";
  out += script_safe(data.dump(-1, ' ', false, json::error_handler_t::replace));
  out += "</script>\n<script>";
  out += html_assets::js;
  out += "</script>\n</body></html>\n";
  return out;
}

json read_results(const fs::path& path) {
  auto results = read_json_file(path);
  if (!results.is_object() || !results.contains("scenarios") || !results["scenarios"].is_array())
    throw std::runtime_error(path.string() +
                             ": not a results document (no \"scenarios\" list; write one with "
                             "run --json or certify --json)");
  return results;
}

json report_data(const std::vector<ResultsSource>& sources, const std::string& title,
                 const fs::path& report_dir) {
  json columns = json::array(), cells = json::array(), timelines = json::array();
  std::map<std::string, json> rows;  // by key
  std::vector<std::string> order;    // first appearance
  for (std::size_t c = 0; c < sources.size(); ++c) {
    const auto& source = sources[c];
    const auto& subject = source.results.value("subject", json::object());
    int must_failures = 0;
    for (const auto& row : source.results["scenarios"]) {
      const auto key = row_key(row);
      if (!rows.count(key)) {
        order.push_back(key);
        const auto section = row_section(row);
        json r{{"key", key},         {"title", row.value("title", "")},
               {"section", section}, {"section_title", section_title(section)},
               {"level", nullptr},   {"requirement", ""}};
        if (row.contains("certify")) {
          r["level"] = row["certify"].value("level", "");
          r["requirement"] = row["certify"].value("requirement", "");
        }
        rows[key] = r;
      }
      const std::string verdict = row.value("verdict", "ERROR");
      if ((verdict == "FAIL" || verdict == "ERROR") && row.contains("certify") &&
          row["certify"].value("level", "") == "MUST")
        ++must_failures;
      cells.push_back(cell_of(row, c, source.file, report_dir, timelines));
    }
    columns.push_back(
        {{"name", column_name(source)},
         {"about", subject.value("about", source.file.string())},
         {"source", source.file.empty() ? "" : generic_relative(source.file, report_dir)},
         {"counts", verdict_counts(source.results)},
         {"must_failures", must_failures}});
  }
  // Rows grouped by section in the spec's order; within a section, as they first came.
  std::stable_sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    return section_order(rows[a]["section"]) < section_order(rows[b]["section"]);
  });
  json row_list = json::array();
  for (const auto& key : order) row_list.push_back(rows[key]);
  return json{{"mode", "matrix"}, {"title", title}, {"generated", now_utc()}, {"columns", columns},
              {"rows", row_list}, {"cells", cells}, {"timelines", timelines}};
}

void write_html_report(const std::vector<ResultsSource>& sources, const std::string& title,
                       const fs::path& path) {
  const auto dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  write_text_file(path.string(), to_html(report_data(sources, title, dir)));
}

void write_timeline_pages(const runner::SuiteReport& suite) {
  for (const auto& s : suite.scenarios)
    for (const auto& run : s.runs) {
      if (run.evidence_dir.empty()) continue;
      if (run.verdict != scenario::Verdict::fail && run.verdict != scenario::Verdict::error)
        continue;
      const auto timeline = run.evidence_dir / "timeline.json";
      std::error_code ec;
      if (!fs::is_regular_file(timeline, ec)) continue;
      const auto events = read_json_file(timeline);
      const std::string name = events.value("scenario", s.scenario.display_name());
      json row{{"key", name},         {"title", s.scenario.title}, {"section", ""},
               {"section_title", ""}, {"level", nullptr},          {"requirement", ""}};
      if (const auto& c = s.scenario.certify) {
        row["level"] = std::string(scenario::level_name(c->level));
        row["requirement"] = c->requirement;
      }
      json cell{{"col", 0},
                {"row", name},
                {"verdict", std::string(scenario::verdict_name(run.verdict))},
                {"reason", run.reason},
                {"timeline", 0},
                {"expected", s.scenario.expected_verdict == run.verdict},
                {"files", evidence_files(run.evidence_dir, run.evidence_dir)}};
      if (s.scenario.expected_verdict) cell["emulates"] = s.scenario.emulates;
      const json data{{"mode", "timeline"},
                      {"title", name + ": " + std::string(scenario::verdict_name(run.verdict))},
                      {"generated", now_utc()},
                      {"columns", json::array({{{"name", s.scenario.display_name()}}})},
                      {"rows", json::array({row})},
                      {"cells", json::array({cell})},
                      {"timelines", json::array({events})}};
      write_text_file((run.evidence_dir / "timeline.html").string(), to_html(data));
    }
}

}  // namespace fh::reports
