#pragma once
// `xdit bench --cases methods`: the serial engine and each parallel method
// on 2 ranks, each row on a fresh worker group (real xdit-worker processes)
// running a built-in bench model (builtin:bench-pixart, or builtin:bench-flux
// for the MMDiT family). Per row: seconds per step, speedup over
// the serial baseline measured in the same run, bytes sent per rank per step
// next to the cost model (bench/comm_model.hpp), the transformer's parameter
// bytes per rank and each rank's peak memory; and the cores the group got
// (CPU / wall time) with the CPU time per rank per step, which still compares
// when a shared machine does not give each rank its core.
//
// Timing: after the warm-up requests, one request of `counted_steps + 1`
// steps; its first step is not counted, and a row's s/step is the median of
// the others, each step taken at its slowest rank.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench/comm_model.hpp"
#include "bench/record.hpp"
#include "parallel/parallel_config.hpp"

namespace xdit::workers {

// One row of the table: a method, its degrees and how its group is started.
struct MethodCase {
  std::string name;   // "method_ulysses2": the `xdit bench --cases` name
  std::string label;  // "ulysses 2": the table's first column
  bench::ParallelMethod method = bench::ParallelMethod::kSerial;
  parallel::ParallelConfig parallel;
  int world_size = 1;
  int threads_per_worker = 1;  // one rank per core gets one thread
  int64_t images = 1;          // of the request; data parallel splits them
  // A method the model may refuse (CFG on a guidance-distilled model):
  // reported as skipped, with the workers' reason.
  bool may_be_unavailable = false;
};

// Every row, in the order they run: the serial rows (the baseline is the
// faster of them) first.
const std::vector<MethodCase>& method_cases();

struct MethodBenchSettings {
  std::string model = "builtin:bench-pixart";
  int warmup_requests = 1;    // untimed requests on the warm group
  int64_t warmup_steps = 2;   // steps of each warm-up request
  int64_t counted_steps = 3;  // timed steps, after one uncounted step
  uint64_t seed = 0;
};

// Runs the serial rows, then `names` (other rows of method_cases(), in
// table order whatever the order given); calls `on_record` as each row
// ends. Throws UsageError for an unknown name, and what the launcher throws
// for a row that fails (other than the may_be_unavailable rows).
std::vector<bench::Record> run_method_bench(
    const std::vector<std::string>& names, const MethodBenchSettings& settings,
    const std::function<void(const bench::Record&)>& on_record = {});

// The rows as one table, a line per row, for the end of the report.
std::string format_method_table(const std::vector<bench::Record>& records);

}  // namespace xdit::workers
