#pragma once
// `xdit bench --cases quality`: what stale activations cost in image
// quality, so that users can choose a warm-up knowingly. For PipeFusion
// (several patch counts) and DistriFusion on 2 ranks, and each warm-up step
// count, the final image is compared with the serial image of the same
// request: largest per-channel difference in 8-bit levels, PSNR, and the
// largest latent difference relative to the latents' scale. With every step
// a warm-up step both methods are exact, which the table's last column
// shows as a check.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/record.hpp"

namespace xdit::workers {

struct QualityBenchSettings {
  std::string model = "builtin:tiny-pixart";
  int64_t steps = 20;
  std::vector<int> warmups = {0, 1, 2, 4};
  std::vector<int> pipeline_patches = {2, 4, 8};  // PipeFusion's M on 2 stages
  uint64_t seed = 0;
};

// The serial image once, then one 2-rank group per method and warm-up, plus
// each method with full warm-up; `on_record` as each run ends.
std::vector<bench::Record> run_quality_bench(
    const QualityBenchSettings& settings,
    const std::function<void(const bench::Record&)>& on_record = {});

// Rows: methods; columns: warm-up steps; cells: "PSNR dB (max levels)".
std::string format_quality_table(const std::vector<bench::Record>& records,
                                 const QualityBenchSettings& settings);

}  // namespace xdit::workers
