#pragma once
// `xdit bench --cases quality`: what each parallel method does to what the
// image shows, so that users can choose a method and a warm-up knowingly.
// The trained built-in scene model draws a fixed list of scene prompts under
// several seeds, serially and under each method on 2 ranks (the exact ones,
// and PipeFusion with several patch counts and DistriFusion at each warm-up
// step count); each run reports its prompt accuracy (bench/prompt_accuracy:
// the images graded against their captions) beside its PSNR against the
// serial images. With every step a warm-up step the stale methods are
// exact, which the table's last column shows as a check.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/record.hpp"

namespace xdit::workers {

struct QualityBenchSettings {
  std::string model = "builtin:scenes";
  int64_t steps = 20;
  std::vector<int> warmups = {0, 1, 2, 4};
  std::vector<int> pipeline_patches = {2, 4, 8};  // PipeFusion's M on 2 stages
  size_t prompts = 32;
  std::vector<uint64_t> seeds = {0, 1};
};

// The checker on the renderer's own images of the prompts, then serial,
// then one 2-rank group per method (and warm-up); `on_record` as each ends.
std::vector<bench::Record> run_quality_bench(
    const QualityBenchSettings& settings,
    const std::function<void(const bench::Record&)>& on_record = {});

// Two markdown tables: the exact methods (prompt accuracy, PSNR against
// serial), and the stale ones by warm-up ("accuracy % (PSNR dB)").
std::string format_quality_table(const std::vector<bench::Record>& records,
                                 const QualityBenchSettings& settings);

}  // namespace xdit::workers
