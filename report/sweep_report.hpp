#pragma once
// A sweep's results as the files people share: one self-contained HTML page
// (tables, and charts drawn by Chart.js, which the page carries inline, so
// it opens offline), the JSON document of docs/sweeps.md and a CSV of the
// raw figures. The rows are those of workers/sweep_runner.hpp (or the
// Studio's history, converted to them); the header names the machine and
// the software.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace xdit::report {

struct SweepReport {
  std::string title;
  nlohmann::ordered_json environment;  // machine and software (docs/sweeps.md)
  nlohmann::ordered_json spec;         // how the rows were run; may be null
  std::vector<nlohmann::ordered_json> rows;
};

// {"format": "xdit-sweep-report/1", "title", "environment", "spec", "rows"}.
nlohmann::ordered_json report_json(const SweepReport& report);

// One line per row: its identity, status, step-time spread, speedup over
// its serial twin, prediction, memory, bytes and quality.
std::string report_csv(const SweepReport& report);

// The page; `chart_js`: the text of Chart.js (3.x), inlined.
std::string report_html(const SweepReport& report, const std::string& chart_js);

// Chart.js as Debian's libjs-chart.js installs it, or the file named by
// $XDIT_CHART_JS; FileError naming both where neither is there.
std::string read_chart_js();

// Seconds per step of a row's serial twin over the row's; NaN where either
// did not run.
double speedup_of(const nlohmann::ordered_json& row,
                  const std::vector<nlohmann::ordered_json>& rows);

}  // namespace xdit::report
