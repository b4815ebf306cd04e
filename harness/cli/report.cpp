#include "cli/report.hpp"

#include <filesystem>

#include "reports/html_report.hpp"
#include "reports/reports.hpp"

namespace fh::cli {

int write_report(const std::vector<std::string>& inputs, const std::vector<std::string>& labels,
                 const std::string& title, const std::string& output, std::ostream& err) {
  if (labels.size() > inputs.size()) {
    err << "error: " << labels.size() << " --label for " << inputs.size()
        << " results file(s): one label per file, in order\n";
    return 2;
  }
  std::vector<reports::ResultsSource> sources;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    try {
      sources.push_back({reports::read_results(inputs[i]), inputs[i],
                         i < labels.size() ? labels[i] : std::string()});
    } catch (const std::exception& e) {
      err << "error: " << e.what() << "\n";
      return 2;
    }
  }
  try {
    reports::write_html_report(sources, title, output);
  } catch (const std::exception& e) {
    err << "error: " << e.what() << "\n";
    return 1;
  }
  std::size_t rows = 0;
  for (const auto& s : sources) rows += s.results["scenarios"].size();
  err << "wrote " << output << ": " << sources.size() << " column(s), " << rows << " result(s)\n";
  return 0;
}

bool load_acceptance(const std::string& quirks_path, const std::string& default_path,
                     const std::string& baseline_path, AcceptanceInputs& inputs,
                     std::ostream& err) {
  std::string path = quirks_path;
  std::error_code ec;
  if (path.empty() && !default_path.empty() && std::filesystem::is_regular_file(default_path, ec))
    path = default_path;
  if (path == "none") path.clear();
  try {
    if (!path.empty()) inputs.quirks = reports::load_quirks(path);
    inputs.quirks_path = path;
    if (!baseline_path.empty()) inputs.baseline = reports::read_results(baseline_path);
  } catch (const std::exception& e) {
    err << "error: " << e.what() << "\n";
    return false;
  }
  return true;
}

bool judge_and_print(nlohmann::json& results, const AcceptanceInputs& inputs, bool strict,
                     std::ostream& out) {
  const auto acceptance =
      reports::judge(results, inputs.quirks, inputs.baseline, strict, reports::today_utc());
  if (!acceptance.lines.empty()) {
    out << "\n";
    if (!inputs.quirks_path.empty()) out << "quirks from " << inputs.quirks_path << ":\n";
    for (const auto& line : acceptance.lines) out << "  " << line << "\n";
  }
  results["acceptance"] = {{"failed", acceptance.failed},
                           {"quirks", inputs.quirks_path},
                           {"baseline", inputs.baseline.has_value()},
                           {"findings", acceptance.lines}};
  return acceptance.failed;
}

std::string acceptance_markdown(const nlohmann::json& results) {
  const auto& acceptance = results.value("acceptance", nlohmann::json::object());
  const auto findings = acceptance.value("findings", std::vector<std::string>{});
  if (findings.empty()) return "";
  std::string out = "\n### Quirks and baseline\n\n";
  for (const auto& finding : findings) {
    // A finding's continuation lines (the quirk, its reason) stay in its list item.
    std::string item = finding;
    for (std::size_t at = item.find('\n'); at != std::string::npos; at = item.find('\n', at + 4))
      item.replace(at, 1, "<br>");
    out += "- " + item + "\n";
  }
  return out;
}

void write_reports(const runner::SuiteReport& suite, const nlohmann::json& results,
                   const ReportPaths& paths, const std::string& title) {
  if (!paths.json.empty()) reports::write_text_file(paths.json, results.dump(2) + "\n");
  if (!paths.junit.empty()) reports::write_text_file(paths.junit, reports::to_junit_xml(suite));
  const auto markdown = reports::to_markdown(suite, title) + acceptance_markdown(results);
  if (!paths.markdown.empty()) reports::write_text_file(paths.markdown, markdown);
  reports::append_step_summary(markdown);
  reports::write_timeline_pages(suite);
  if (!paths.html.empty()) reports::write_html_report({{results, {}, ""}}, title, paths.html);
}

}  // namespace fh::cli
