#include "report/sweep_report.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "report/report_page.hpp"
#include "report/row_figures.hpp"

namespace xdit::report {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMiB = 1024.0 * 1024.0;
constexpr const char* kDebianChartJs = "/usr/share/javascript/chart.js/chart.min.js";

bool ran(const nlohmann::ordered_json& row) {
  return row.value("status", "") == "ok";
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos)
    return text;
  std::string out = "\"";
  for (char c : text)
    out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_number(double value) {
  if (std::isnan(value))
    return "";
  char text[32];
  std::snprintf(text, sizeof(text), "%.6g", value);
  return text;
}

}  // namespace

double speedup_of(const nlohmann::ordered_json& row,
                  const std::vector<nlohmann::ordered_json>& rows) {
  if (!ran(row))
    return kNaN;
  const std::string reference = row.value("reference", "");
  for (const auto& other : rows) {
    if (other.value("flags", "") == reference && ran(other))
      return row_number(other, {"step_seconds", "median"}) /
             row_number(row, {"step_seconds", "median"});
  }
  return kNaN;
}

nlohmann::ordered_json report_json(const SweepReport& report) {
  nlohmann::ordered_json json;
  json["format"] = "xdit-sweep-report/1";
  json["title"] = report.title;
  json["environment"] = report.environment;
  json["spec"] = report.spec;
  json["rows"] = report.rows;
  return json;
}

std::string report_csv(const SweepReport& report) {
  static const std::vector<std::string> columns = {"command",
                                                   "model",
                                                   "height",
                                                   "width",
                                                   "steps",
                                                   "images",
                                                   "device",
                                                   "world_size",
                                                   "threads_per_rank",
                                                   "mesh",
                                                   "status",
                                                   "reason",
                                                   "step_seconds_median",
                                                   "step_seconds_min",
                                                   "step_seconds_max",
                                                   "step_seconds_p90",
                                                   "run_seconds_median",
                                                   "speedup",
                                                   "predicted_seconds_per_step",
                                                   "prediction_error",
                                                   "peak_memory_bytes_largest_rank",
                                                   "parameter_bytes_largest_rank",
                                                   "bytes_sent_per_step_mean_rank",
                                                   "cost_model_bytes_sent_per_step",
                                                   "comm_wait_seconds_per_step_mean_rank",
                                                   "psnr_db",
                                                   "max_abs_levels"};
  std::ostringstream out;
  for (size_t i = 0; i < columns.size(); ++i)
    out << (i ? "," : "") << columns[i];
  out << '\n';
  for (const auto& row : report.rows) {
    const auto text = [&](const char* key) {
      if (!row.contains(key))
        return std::string();
      return row[key].is_string() ? row[key].get<std::string>() : row[key].dump();
    };
    const std::vector<std::string> fields = {
        text("command"),
        text("model"),
        text("height"),
        text("width"),
        text("steps"),
        text("images"),
        text("device"),
        text("world_size"),
        text("threads_per_rank"),
        text("mesh"),
        text("status"),
        text("reason"),
        csv_number(row_number(row, {"step_seconds", "median"})),
        csv_number(row_number(row, {"step_seconds", "min"})),
        csv_number(row_number(row, {"step_seconds", "max"})),
        csv_number(row_number(row, {"step_seconds", "p90"})),
        csv_number(row_number(row, {"run_seconds", "median"})),
        csv_number(speedup_of(row, report.rows)),
        csv_number(row_number(row, {"predicted", "seconds_per_step"})),
        csv_number(row_number(row, {"predicted", "seconds_per_step"}) /
                       row_number(row, {"step_seconds", "median"}) -
                   1),
        csv_number(over_ranks(row, "peak_memory_bytes", OverRanks::kLargest)),
        csv_number(over_ranks(row, "parameter_bytes", OverRanks::kLargest)),
        csv_number(over_ranks(row, "bytes_sent_per_step", OverRanks::kMean)),
        csv_number(row_number(row, {"cost_model", "bytes_sent_per_step"})),
        csv_number(over_ranks(row, "comm_wait_seconds_per_step", OverRanks::kMean)),
        csv_number(row_number(row, {"quality", "psnr_db"})),
        csv_number(row_number(row, {"quality", "max_abs_levels"}))};
    for (size_t i = 0; i < fields.size(); ++i)
      out << (i ? "," : "") << csv_field(fields[i]);
    out << '\n';
  }
  return out.str();
}

std::string read_chart_js() {
  const char* override_path = std::getenv("XDIT_CHART_JS");
  const std::string path = override_path && *override_path ? override_path : kDebianChartJs;
  std::ifstream in(path);
  if (!in) {
    throw FileError(path,
                    "Chart.js is missing: the HTML report inlines it (apt-get install "
                    "libjs-chart.js, or set XDIT_CHART_JS to a chart.min.js of Chart.js 3)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string report_html(const SweepReport& report, const std::string& chart_js) {
  // The figures the charts draw, one entry per row that ran.
  std::set<std::string> models, sizes, steps, devices, threads;
  for (const auto& row : report.rows) {
    threads.insert(row.value("threads_per_rank", nlohmann::ordered_json(1)).dump());
    models.insert(row.value("model", ""));
    sizes.insert(row["height"].dump() + "x" + row["width"].dump());
    steps.insert(row["steps"].dump());
    devices.insert(row.value("device", ""));
  }
  nlohmann::ordered_json chart_rows = nlohmann::ordered_json::array();
  std::vector<std::string> labels;
  for (const auto& row : report.rows) {
    std::string label = row.value("mesh", "?");
    if (models.size() > 1)
      label += ", " + row.value("model", "");
    if (sizes.size() > 1)
      label += ", " + row["height"].dump() + "×" + row["width"].dump();
    if (steps.size() > 1)
      label += ", " + row["steps"].dump() + " steps";
    if (devices.size() > 1)
      label += ", " + row.value("device", "");
    if (threads.size() > 1)
      label +=
          ", " + row.value("threads_per_rank", nlohmann::ordered_json(1)).dump() + " thread(s)";
    labels.push_back(label);
    if (!ran(row))
      continue;
    nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
    for (const auto& rank : row["ranks"]) {
      ranks.push_back({{"memory_mib", rank.value("peak_memory_bytes", 0.0) / kMiB},
                       {"compute", rank.value("compute_seconds_per_step", 0.0)},
                       {"wait", rank.value("comm_wait_seconds_per_step", 0.0)}});
    }
    const auto or_null = [](double v) {
      return std::isnan(v) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v);
    };
    chart_rows.push_back(
        {{"label", label},
         {"world_size", row.value("world_size", 1)},
         {"mesh", row.value("mesh", "")},
         {"median", row_number(row, {"step_seconds", "median"})},
         {"min", row_number(row, {"step_seconds", "min"})},
         {"max", row_number(row, {"step_seconds", "max"})},
         {"p90", row_number(row, {"step_seconds", "p90"})},
         {"predicted", or_null(row_number(row, {"predicted", "seconds_per_step"}))},
         {"speedup", or_null(speedup_of(row, report.rows))},
         {"sent_mib", over_ranks(row, "bytes_sent_per_step", OverRanks::kMean) / kMiB},
         {"model_mib", or_null(row_number(row, {"cost_model", "bytes_sent_per_step"}) / kMiB)},
         {"model_memory_mib",
          or_null(row_number(row, {"cost_model", "memory_per_rank_bytes"}) / kMiB)},
         {"ranks", ranks}});
  }
  return render_page(report, labels, chart_rows, chart_js);
}

}  // namespace xdit::report
