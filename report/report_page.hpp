#pragma once
// The HTML of a sweep report: the machine and software, the rows as a table
// (every row, with the exact command that reproduces it and, for a row that
// did not run, why), and five charts drawn by the inlined Chart.js from the
// figures embedded as JSON. Once drawn, the page marks <body> with
// data-charts (how many) and data-charts-drawn (how many canvases hold
// pixels), which the headless-browser test reads.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report/sweep_report.hpp"

namespace xdit::report {

// `labels`: one per row of `report`; `chart_rows`: the figures of the rows
// that ran (sweep_report.cpp makes both).
std::string render_page(const SweepReport& report, const std::vector<std::string>& labels,
                        const nlohmann::ordered_json& chart_rows, const std::string& chart_js);

// `text` with &, <, >, " escaped.
std::string escape_html(const std::string& text);

}  // namespace xdit::report
