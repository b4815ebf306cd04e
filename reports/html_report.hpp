// The HTML report (reports/html/README.md): results documents (the JSON of `run` and
// `certify`) as one self-contained page: the matrix of implementations x checks grouped by
// spec section, each cell's detail, and the kept runs' joined timelines drawn as swimlanes.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runner/suite.hpp"

namespace fh::reports {

/// One results document, a column of the matrix.
struct ResultsSource {
  nlohmann::json results;      // as to_json() wrote it (with "subject" when certify did)
  std::filesystem::path file;  // where it was read from; empty when it never was a file
  std::string label;           // the column's name; empty: the subject's, else the file's stem
};

/// The report's DATA: columns, rows grouped by section, cells, the kept timelines. Evidence
/// paths are written relative to `report_dir`, the folder the report goes to.
nlohmann::json report_data(const std::vector<ResultsSource>& sources, const std::string& title,
                           const std::filesystem::path& report_dir);

/// The page: the viewer (compiled in) and `data` embedded.
std::string to_html(const nlohmann::json& data);

/// Writes `path` for `sources`; throws std::runtime_error naming what failed.
void write_html_report(const std::vector<ResultsSource>& sources, const std::string& title,
                       const std::filesystem::path& path);

/// timeline.html beside the timeline.json of every FAIL or ERROR run whose evidence was kept:
/// the same swimlane, for a person who opens the evidence folder first.
void write_timeline_pages(const runner::SuiteReport& suite);

/// Reads a results document; throws std::runtime_error saying why it is not one.
nlohmann::json read_results(const std::filesystem::path& path);

}  // namespace fh::reports
