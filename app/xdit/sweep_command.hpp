#pragma once
// `xdit bench --sweep FILE` (or --model M and repeated --config "FLAGS"):
// runs a sweep's rows (workers/sweep_runner.hpp) with a progress bar over
// the whole sweep, then writes the reports asked for. `xdit report`
// writes them again from a results file.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "report/report_files.hpp"

namespace xdit::app {

struct SweepCommandOptions {
  std::optional<std::filesystem::path> sweep_file;
  std::vector<std::string> models;   // with configs: the command-line sweep
  std::vector<std::string> configs;  // --config "FLAGS", repeated
  std::optional<std::filesystem::path>
      results;  // default: beside the sweep file, or ./xdit-sweep.jsonl
  std::optional<std::filesystem::path> calibration;  // default: plan::default_calibration_path()
  int warmup_runs = -1;                              // -1: the sweep file's
  int repeats = -1;
  report::ReportFiles reports;
};

int run_sweep_command(const SweepCommandOptions& options);

}  // namespace xdit::app
