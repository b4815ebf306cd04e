// The HTML report's viewer (reports/html/report.css and report.js), compiled in by
// reports/html/embed.cmake.
#pragma once

namespace fh::reports::html_assets {
extern const char* const css;
extern const char* const js;
}  // namespace fh::reports::html_assets
