#pragma once
// What `xdit bench --sweep` runs: a grid of `xdit generate` command lines.
// A sweep file (JSON, docs/sweeps.md) names the axes — models, sizes,
// inference steps, devices, and the configurations (each the parallel and
// size flags of `xdit generate`) — and every row is one point of the grid:
// the exact flags that reproduce it with `xdit generate`.
//
// Each parallel row is measured against its serial twin (the same flags
// without the parallel ones, --nproc 1): the speedup's baseline and the
// reference image of the quality figures. Where the grid has no such row,
// the expansion adds it, so that a sweep is complete on its own.

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "workers/generate_settings.hpp"

namespace xdit::workers {

struct SweepSpec {
  std::string title;
  std::vector<std::string> models = {"builtin:bench-pixart"};
  std::vector<std::string> sizes;  // "HxW"; none: the model's or the config's
  std::vector<int64_t> steps;      // --num_inference_steps; none: the config's or 20
  // --warmup_steps of the rows with stale activations (PipeFusion,
  // DistriFusion): one row per value; none: the config's or the default.
  std::vector<int> warmup_steps;
  std::vector<std::string> devices;  // --device; none: the config's or auto
  std::vector<std::string> configs = {"--nproc 1"};
  std::string prompt = "a lighthouse on a cliff at dawn";
  uint64_t seed = 0;
  int warmup_runs = 1;  // untimed requests on each fresh group
  int repeats = 3;      // timed requests
};

// FileError for a file that cannot be read or is not JSON; ConfigError
// naming the file and key for JSON that is not a sweep.
SweepSpec read_sweep_file(const std::filesystem::path& path);
SweepSpec sweep_spec_from_json(const nlohmann::json& json, const std::string& source);
nlohmann::ordered_json to_json(const SweepSpec& spec);

struct SweepRow {
  std::string flags;          // the `xdit generate` flags, quoted as a shell reads them
  GenerateSettings settings;  // as `xdit generate` parses them
  int nproc = 1;
  int threads = 0;  // 0: as `xdit generate` (all cores for one process, else 1 per worker)
  std::string gpus;
  std::string reference_flags;  // the serial twin's flags (its own for a serial row)

  std::string command() const { return "xdit generate " + flags; }
  bool serial() const { return nproc == 1; }
  // PipeFusion or DistriFusion: activations one step stale.
  bool stale() const;
};

// The grid, reference rows inserted before the first row that needs them;
// no row twice. UsageError naming the configuration for flags `xdit
// generate` does not take.
std::vector<SweepRow> expand_sweep(const SweepSpec& spec);

// One row from its flags, as `xdit generate` would read them.
SweepRow parse_sweep_row(const std::string& flags);

// Words of a command line as a POSIX shell splits them (single and double
// quotes, backslash escapes); UsageError for an unclosed quote.
std::vector<std::string> split_command_line(const std::string& line);
// The words joined back, each quoted where a shell needs it.
std::string join_command_line(const std::vector<std::string>& words);

}  // namespace xdit::workers
