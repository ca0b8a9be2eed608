#pragma once
// Runs the rows of a sweep (workers/sweep_spec.hpp), each on a fresh worker
// group of its own: `warmup_runs` untimed requests, then `repeats` timed
// ones. Per row it records the spread of the step time (each step at its
// slowest rank: median, min, max, p90) and of the whole request, and per
// rank its seconds per step, peak memory (the GPU's on a GPU, else the
// resident set), parameter bytes, bytes sent and seconds blocked in
// communication per step; beside them what the cost model predicts, and,
// for a parallel row, the image against its serial twin's (PSNR, largest
// pixel difference).
//
// Results go to a JSON-lines file, one line per finished row after a
// header, so an interrupted sweep resumes where it stopped: rows whose
// flags already have a line are not run again. A row that cannot run (its
// degrees refused, a worker failing) is recorded with the reason. The
// format is documented in docs/sweeps.md.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "plan/calibration.hpp"
#include "workers/sweep_spec.hpp"

namespace xdit::workers {

struct SweepProgress {
  size_t row = 0;  // the row running, 0-based
  size_t rows = 0;
  int64_t steps_done = 0;  // over the rows this run measures
  int64_t steps_total = 0;
  double elapsed_seconds = 0;
  double eta_seconds = 0;  // NaN until a step is done
};

struct SweepCallbacks {
  std::function<void(const SweepRow&, size_t index, size_t rows)> on_row_start;
  std::function<void(const nlohmann::ordered_json& result)> on_row;  // each new result
  std::function<void(const SweepProgress&)> on_progress;             // each denoising step
};

struct SweepOptions {
  std::filesystem::path results;  // JSON lines, appended to
  // The planner's seconds per step beside each row where set (memory and
  // the cost model's bytes are predicted without it).
  std::optional<plan::Calibration> calibration;
  // Asked before each row: true stops the sweep there (the rows done stay
  // in the results, and a rerun resumes).
  std::function<bool()> stop_requested;
};

// One rank's figures in a result row (docs/sweeps.md): its median step,
// how much of it was spent blocked in communication, bytes sent per step,
// transformer parameters, peak memory, and the GPU it computes on (empty:
// a CPU rank, whose peak is its resident set).
struct RankRow {
  int rank = 0;
  double seconds_per_step = 0;
  double comm_wait_seconds_per_step = 0;
  double bytes_sent_per_step = 0;
  double parameter_bytes = 0;
  double peak_memory_bytes = 0;
  std::string gpu;
};
nlohmann::ordered_json to_json(const RankRow& rank);

struct SweepResults {
  nlohmann::ordered_json header;  // {"format", "environment", "spec"}
  std::vector<nlohmann::ordered_json> rows;
  bool cut_short = false;  // the last line was cut short and left out
};

// The results file as it stands; an empty result for no file. A last line
// cut short (the sweep killed while writing) is ignored; ConfigError for
// any other line that is not JSON.
SweepResults read_sweep_results(const std::filesystem::path& path);

// Runs the rows that `options.results` does not hold yet and returns every
// result, in row order (only those run when stopped early). `environment`
// goes into the header written when the file is new.
std::vector<nlohmann::ordered_json> run_sweep(const std::vector<SweepRow>& rows,
                                              const SweepSpec& spec,
                                              const nlohmann::ordered_json& environment,
                                              const SweepOptions& options,
                                              const SweepCallbacks& callbacks = {});

}  // namespace xdit::workers
