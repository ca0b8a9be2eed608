#include "report/report_page.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "report/row_figures.hpp"

namespace xdit::report {
namespace {

// Draws the charts from #xdit-figures; Chart.js 3. Animation off: the page is
// complete once the script has run (for printing and screenshots).
constexpr const char* kChartScript = R"JS(
(function () {
  const rows = JSON.parse(document.getElementById('xdit-figures').textContent);
  const status = document.getElementById('chart-status');
  if (typeof Chart === 'undefined') { status.textContent = 'Chart.js did not load.'; return; }
  Chart.defaults.animation = false;
  Chart.defaults.font.size = 11;
  const labels = rows.map(r => r.label);
  const charts = [];
  const add = (id, config) => {
    const canvas = document.getElementById(id);
    charts.push(new Chart(canvas, config));
  };
  const secondsAxis = { beginAtZero: true, title: { display: true, text: 's / step' } };
  const latency = [
    { type: 'bar', label: 'median', data: rows.map(r => r.median), backgroundColor: '#4c78a8' },
    { type: 'line', label: 'p90', data: rows.map(r => r.p90), showLine: false, pointStyle: 'triangle', pointRadius: 5, borderColor: '#e45756', backgroundColor: '#e45756' },
    { type: 'line', label: 'min', data: rows.map(r => r.min), showLine: false, pointRadius: 3, borderColor: '#54a24b', backgroundColor: '#54a24b' },
    { type: 'line', label: 'max', data: rows.map(r => r.max), showLine: false, pointRadius: 3, borderColor: '#b279a2', backgroundColor: '#b279a2' }];
  if (rows.some(r => r.predicted !== null))
    latency.push({ type: 'line', label: 'predicted (xdit plan)', data: rows.map(r => r.predicted), showLine: false, pointStyle: 'rectRot', pointRadius: 6, borderColor: '#f58518', backgroundColor: '#f58518' });
  add('chart-latency', { data: { labels, datasets: latency }, options: { responsive: false, scales: { y: secondsAxis } } });

  const families = {};
  rows.forEach(r => {
    if (r.speedup === null) return;
    const family = r.mesh.replace(/\(.*\)/g, '').replace(/[0-9]+/g, '').replace(/\s+/g, ' ').trim();
    (families[family] = families[family] || []).push({ x: r.world_size, y: r.speedup });
  });
  const palette = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac', '#eeca3b'];
  const speed = Object.keys(families).map((f, i) => ({ label: f, data: families[f], pointRadius: 5, backgroundColor: palette[i % palette.length], borderColor: palette[i % palette.length] }));
  const widest = Math.max(1, ...rows.map(r => r.world_size));
  speed.push({ type: 'line', label: 'ideal', data: [{ x: 1, y: 1 }, { x: widest, y: widest }], borderDash: [4, 4], borderColor: '#888', pointRadius: 0 });
  add('chart-speedup', { type: 'scatter', data: { datasets: speed }, options: { responsive: false, scales: { x: { title: { display: true, text: 'world size' }, ticks: { stepSize: 1 } }, y: { beginAtZero: true, title: { display: true, text: 'speedup over serial' } } } } });

  const widestGroup = Math.max(0, ...rows.map(r => r.ranks.length));
  const memory = [];
  for (let k = 0; k < widestGroup; ++k)
    memory.push({ label: 'rank ' + k, data: rows.map(r => k < r.ranks.length ? r.ranks[k].memory_mib : null), backgroundColor: palette[k % palette.length] });
  memory.push({ type: 'line', label: 'predicted (largest rank)', data: rows.map(r => r.model_memory_mib), showLine: false, pointStyle: 'rectRot', pointRadius: 6, borderColor: '#333', backgroundColor: '#333' });
  add('chart-memory', { type: 'bar', data: { labels, datasets: memory }, options: { responsive: false, scales: { y: { beginAtZero: true, title: { display: true, text: 'peak MiB per rank' } } } } });

  add('chart-bytes', { type: 'bar', data: { labels, datasets: [
    { label: 'measured (mean of ranks)', data: rows.map(r => r.sent_mib), backgroundColor: '#4c78a8' },
    { label: 'cost model', data: rows.map(r => r.model_mib), backgroundColor: '#f58518' }] },
    options: { responsive: false, scales: { y: { beginAtZero: true, title: { display: true, text: 'MiB sent per rank per step' } } } } });

  const rankLabels = [], compute = [], wait = [];
  rows.forEach(r => r.ranks.forEach((k, i) => { rankLabels.push(r.label + ' · rank ' + i); compute.push(k.compute); wait.push(k.wait); }));
  add('chart-split', { type: 'bar', data: { labels: rankLabels, datasets: [
    { label: 'compute', data: compute, backgroundColor: '#54a24b' },
    { label: 'blocked in communication', data: wait, backgroundColor: '#e45756' }] },
    options: { responsive: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: 's / step' } } } } });

  let drawn = 0;
  charts.forEach(c => {
    const pixels = c.ctx.getImageData(0, 0, c.canvas.width, c.canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) { ++drawn; break; } }
  });
  document.body.setAttribute('data-charts', String(charts.length));
  document.body.setAttribute('data-charts-drawn', String(drawn));
  status.textContent = '';
})();
)JS";

constexpr const char* kStyle = R"CSS(
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { color: #888; }
code { font-size: 11px; }
canvas { display: block; margin: 8px 0 4px; }
.note { color: #555; font-size: 12px; max-width: 900px; }
@media print { h2 { page-break-before: auto; } canvas { page-break-inside: avoid; } }
)CSS";

std::string fixed(double value, const char* format) {
  if (std::isnan(value))
    return "";
  char text[48];
  std::snprintf(text, sizeof(text), format, value);
  return text;
}

std::string environment_table(const nlohmann::ordered_json& environment) {
  std::ostringstream out;
  out << "<table>";
  for (const auto& item : environment.items()) {
    const std::string value =
        item.value().is_string() ? item.value().get<std::string>() : item.value().dump();
    out << "<tr><th>" << escape_html(item.key()) << "</th><td>" << escape_html(value)
        << "</td></tr>";
  }
  out << "</table>";
  return out.str();
}

std::string rows_table(const SweepReport& report, const std::vector<std::string>& labels) {
  std::ostringstream out;
  out << "<table><tr><th>#</th><th>configuration</th><th>ranks</th><th>status</th>"
         "<th>s/step median</th><th>min</th><th>max</th><th>p90</th><th>predicted</th>"
         "<th>error</th>"
         "<th>speedup</th><th>peak MiB (largest rank)</th><th>MiB sent/step (mean rank)</th>"
         "<th>cost model MiB</th><th>PSNR dB / max Δ</th><th>command</th></tr>";
  constexpr double kMiB = 1024.0 * 1024.0;
  for (size_t i = 0; i < report.rows.size(); ++i) {
    const auto& row = report.rows[i];
    const std::string status = row.value("status", "?");
    const bool ok = status == "ok";
    out << "<tr" << (ok ? "" : " class=\"failed\"") << "><td class=n>" << i + 1 << "</td><td>"
        << escape_html(labels[i]) << "</td><td class=n>" << row.value("world_size", 1)
        << "</td><td>" << escape_html(ok ? status : status + ": " + row.value("reason", ""))
        << "</td>";
    for (const char* key : {"median", "min", "max", "p90"})
      out << "<td class=n>" << fixed(row_number(row, {"step_seconds", key}), "%.4f") << "</td>";
    const double predicted = row_number(row, {"predicted", "seconds_per_step"});
    const double median = row_number(row, {"step_seconds", "median"});
    out << "<td class=n>" << fixed(predicted, "%.4f") << "</td>"
        << "<td class=n>" << fixed((predicted - median) / median * 100, "%+.0f%%") << "</td>"
        << "<td class=n>" << fixed(speedup_of(row, report.rows), "%.2f×") << "</td>"
        << "<td class=n>"
        << fixed(over_ranks(row, "peak_memory_bytes", OverRanks::kLargest) / kMiB, "%.0f")
        << "</td>";
    out << "<td class=n>"
        << fixed(over_ranks(row, "bytes_sent_per_step", OverRanks::kMean) / kMiB, "%.3f")
        << "</td><td class=n>"
        << fixed(row_number(row, {"cost_model", "bytes_sent_per_step"}) / kMiB, "%.3f")
        << "</td><td>";
    if (row.contains("quality")) {
      const auto& q = row["quality"];
      out << (q["psnr_db"].is_null() ? std::string("identical")
                                     : fixed(q["psnr_db"].get<double>(), "%.1f"))
          << " / " << q.value("max_abs_levels", 0.0);
    }
    out << "</td><td><code>" << escape_html(row.value("command", "")) << "</code></td></tr>";
  }
  out << "</table>";
  return out.str();
}

std::string chart(const char* id, const char* title, const char* note, int width, int height) {
  std::ostringstream out;
  out << "<h2>" << title << "</h2><p class=note>" << note << "</p><canvas id=\"" << id
      << "\" width=\"" << width << "\" height=\"" << height << "\"></canvas>";
  return out.str();
}

// JSON inside <script>: "</" would end the element.
std::string script_safe(const std::string& json) {
  std::string out;
  for (size_t i = 0; i < json.size(); ++i) {
    out += json[i];
    if (json[i] == '<' && i + 1 < json.size() && json[i + 1] == '/')
      out += "\\";
  }
  return out;
}

}  // namespace

std::string escape_html(const std::string& text) {
  std::string out;
  for (char c : text) {
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
      default:
        out += c;
    }
  }
  return out;
}

std::string render_page(const SweepReport& report, const std::vector<std::string>& labels,
                        const nlohmann::ordered_json& chart_rows, const std::string& chart_js) {
  const std::string title = report.title.empty() ? "xdit sweep" : report.title;
  const int bars = std::max<int>(1, static_cast<int>(chart_rows.size()));
  const int width = std::max(720, std::min(1400, 60 * bars + 200));
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
      << escape_html(title) << "</title><style>" << kStyle << "</style></head><body>\n"
      << "<h1>" << escape_html(title) << "</h1>\n"
      << "<p class=note>Each row ran on a fresh worker group: warm-up requests, then timed "
         "requests; a step's time is that of its slowest rank. The speedup is over the row's "
         "serial twin (the same flags without the parallel ones) in the same sweep. Re-run a "
         "row with its command.</p>\n"
      << "<h2>Machine and software</h2>" << environment_table(report.environment) << "\n";
  if (!report.spec.is_null())
    out << "<h2>Sweep</h2>" << environment_table(report.spec) << "\n";
  out << "<p id=\"chart-status\" class=note>Drawing the charts…</p>\n"
      << chart("chart-latency", "Latency by configuration",
               "Seconds per denoising step: median bar, min/max/p90 points, and the planner's "
               "prediction where the machine was calibrated.",
               width, 340)
      << chart("chart-speedup", "Speedup against world size",
               "Serial seconds per step over the row's, by method.", 720, 340)
      << chart("chart-memory", "Peak memory per rank",
               "GPU memory on a GPU, resident set on a CPU; the planner's estimate of the largest "
               "rank beside it.",
               width, 340)
      << chart("chart-bytes", "Bytes sent against the cost model",
               "Median over the steps of the bytes each rank sent, mean of the ranks, beside the "
               "cost model's per-rank bytes.",
               width, 340)
      << chart("chart-split", "Compute and communication per rank",
               "Median seconds per step blocked in communication, and the rest.",
               std::max(720, std::min(1600, 40 * bars * 2 + 200)), 360)
      << "\n<h2>Rows</h2>" << rows_table(report, labels) << "\n"
      << "<script type=\"application/json\" id=\"xdit-figures\">" << script_safe(chart_rows.dump())
      << "</script>\n<script>" << chart_js << "</script>\n<script>" << kChartScript
      << "</script>\n</body></html>\n";
  return out.str();
}

}  // namespace xdit::report
