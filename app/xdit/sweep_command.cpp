#include "xdit/sweep_command.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "plan/calibration.hpp"
#include "workers/sweep_runner.hpp"
#include "xdit/machine_info.hpp"

namespace xdit::app {
namespace {

std::string duration_text(double seconds) {
  if (std::isnan(seconds))
    return "?";
  char text[32];
  const auto whole = static_cast<long long>(seconds);
  if (whole >= 3600)
    std::snprintf(text, sizeof(text), "%lldh%02lldm", whole / 3600, whole % 3600 / 60);
  else
    std::snprintf(text, sizeof(text), "%lldm%02llds", whole / 60, whole % 60);
  return text;
}

std::filesystem::path results_path(const SweepCommandOptions& options) {
  if (options.results)
    return *options.results;
  if (options.sweep_file) {
    auto path = *options.sweep_file;
    return path.replace_extension(".results.jsonl");
  }
  return "xdit-sweep.jsonl";
}

void print_row(const nlohmann::ordered_json& row) {
  const std::string status = row.value("status", "?");
  if (status != "ok") {
    std::printf("  %s: %s\n", status.c_str(), row.value("reason", "").c_str());
  } else {
    const auto& s = row["step_seconds"];
    std::printf("  %.4f s/step (median; min %.4f, max %.4f, p90 %.4f over %zu steps)",
                s["median"].get<double>(), s["min"].get<double>(), s["max"].get<double>(),
                s["p90"].get<double>(), s["count"].get<size_t>());
    if (row.contains("predicted"))
      std::printf(", predicted %.4f", row["predicted"]["seconds_per_step"].get<double>());
    if (row.contains("quality")) {
      const auto& q = row["quality"];
      if (q["psnr_db"].is_null())
        std::printf(", the serial image exactly");
      else
        std::printf(", PSNR %.1f dB and largest difference %.0f levels against serial",
                    q["psnr_db"].get<double>(), q["max_abs_levels"].get<double>());
    }
    std::printf("\n");
  }
  std::fflush(stdout);
}

}  // namespace

int run_sweep_command(const SweepCommandOptions& options) {
  workers::SweepSpec spec;
  if (options.sweep_file) {
    if (!options.configs.empty())
      throw UsageError("xdit bench: --sweep FILE or --config, not both");
    spec = workers::read_sweep_file(*options.sweep_file);
  } else {
    if (options.configs.empty())
      throw UsageError("xdit bench: a sweep needs --sweep FILE or at least one --config");
    spec.configs = options.configs;
  }
  if (!options.models.empty())
    spec.models = options.models;
  if (options.warmup_runs >= 0)
    spec.warmup_runs = options.warmup_runs;
  if (options.repeats >= 0) {
    if (options.repeats < 1)
      throw UsageError("xdit bench: --repeats must be at least 1");
    spec.repeats = options.repeats;
  }
  const std::vector<workers::SweepRow> rows = workers::expand_sweep(spec);

  workers::SweepOptions run;
  run.results = results_path(options);
  run.calibration =
      plan::read_calibration(options.calibration.value_or(plan::default_calibration_path()));
  const size_t already = workers::read_sweep_results(run.results).rows.size();
  std::printf("sweep of %zu rows (%d warm-up and %d timed requests each) into %s%s\n", rows.size(),
              spec.warmup_runs, spec.repeats, run.results.c_str(),
              already ? (", resuming after " + std::to_string(already) + " measured").c_str() : "");
  if (run.calibration) {
    std::printf("predictions from the calibration of %s (%s)\n", run.calibration->measured.c_str(),
                run.calibration->device.c_str());
  }
  std::fflush(stdout);

  const bool interactive = ::isatty(STDERR_FILENO) != 0;
  workers::SweepCallbacks callbacks;
  callbacks.on_row_start = [&](const workers::SweepRow& row, size_t index, size_t total) {
    if (interactive)
      std::fprintf(stderr, "\r\x1b[K");
    std::printf("[%zu/%zu] %s\n", index + 1, total, row.command().c_str());
    std::fflush(stdout);
  };
  callbacks.on_progress = [&](const workers::SweepProgress& p) {
    if (!interactive)
      return;
    constexpr int kWidth = 30;
    const int filled = p.steps_total ? static_cast<int>(kWidth * p.steps_done / p.steps_total) : 0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\rsweep row %zu/%zu [%s] %lld/%lld steps, %s elapsed, ETA %s\x1b[K",
                 p.row + 1, p.rows, bar.c_str(), static_cast<long long>(p.steps_done),
                 static_cast<long long>(p.steps_total), duration_text(p.elapsed_seconds).c_str(),
                 duration_text(p.eta_seconds).c_str());
    std::fflush(stderr);
  };
  callbacks.on_row = [&](const nlohmann::ordered_json& row) {
    if (interactive)
      std::fprintf(stderr, "\r\x1b[K");
    print_row(row);
  };
  nlohmann::ordered_json environment = machine_json();
  environment["command"] = "xdit bench --sweep";
  workers::run_sweep(rows, spec, environment, run, callbacks);

  if (options.reports.any()) {
    for (const auto& line :
         report::write_report_files(report::read_sweep_report(run.results), options.reports))
      std::printf("%s\n", line.c_str());
  }
  return 0;
}

}  // namespace xdit::app
