#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "bench/flops.hpp"
#include "bench/gemm_probe.hpp"
#include "bench/memory.hpp"
#include "bench/record.hpp"
#include "bench/serial_cases.hpp"
#include "bench/timing.hpp"

namespace xdit::bench {
namespace {

TEST(BenchFlopsTest, AttentionCountsBothProducts) {
  EXPECT_EQ(matmul_flops(3, 5, 7), 2.0 * 3 * 5 * 7);
  EXPECT_EQ(attention_flops(2, 16, 4096, 4096, 72), 4.0 * 2 * 16 * 4096 * 4096 * 72);
  EXPECT_EQ(attention_flops(1, 2, 10, 3, 8), 4.0 * 2 * 10 * 3 * 8);
}

TEST(BenchFlopsTest, PixArtStepByHand) {
  // 2 heads of 4 (d = 8), 3 layers, caption 6 -> 8, 5 image and 2 text
  // tokens per sample, batch 2, patch 2, 4 -> 8 channels, no size conditions.
  models::PixArtConfig config;
  config.num_attention_heads = 2;
  config.attention_head_dim = 4;
  config.in_channels = 4;
  config.out_channels = 8;
  config.num_layers = 3;
  config.cross_attention_dim = 8;
  config.patch_size = 2;
  config.caption_channels = 6;
  config.use_additional_conditions = false;
  const StepFlops flops = pixart_step_flops(config, 2, 5, 2);

  const double d = 8, image = 10, text = 4;
  const double per_layer_linear = 2 * image * d * d * 4         // attn1
                                  + 2 * image * d * d * 2       // attn2 q, out
                                  + 2 * text * d * d * 2        // attn2 k, v
                                  + 2 * image * d * 4 * d * 2;  // feed-forward
  const double once = 2 * 2 * (256 * d + d * d)                 // timestep MLP
                      + 2 * 2 * d * 6 * d                       // adaLN-single
                      + 2 * text * (6 * d + d * d)              // caption projection
                      + 2 * image * 16 * d                      // patch embedding
                      + 2 * image * d * 32;                     // proj_out
  EXPECT_DOUBLE_EQ(flops.linear, once + 3 * per_layer_linear);
  EXPECT_DOUBLE_EQ(flops.self_attention, 3 * 4.0 * 2 * 2 * 5 * 5 * 4);
  EXPECT_DOUBLE_EQ(flops.cross_attention, 3 * 4.0 * 2 * 2 * 5 * 2 * 4);
  EXPECT_DOUBLE_EQ(flops.total(), flops.linear + flops.self_attention + flops.cross_attention);
}

TEST(BenchFlopsTest, FluxDevStepAsTheEagerBaselineCountsIt) {
  // Flux.1-dev at 1024 px: 4096 image + 512 text tokens, 57 blocks 3072 wide.
  models::FluxConfig config;
  config.guidance_embeds = true;
  const StepFlops flops = flux_step_flops(config, 1, 4096, 512);
  const double n = 4608;
  const double d = 3072;
  // eager_dit_baseline.py: 57 · 2n · 12d² and 57 · 4n²d.
  EXPECT_DOUBLE_EQ(flops.self_attention, 57 * 4 * n * n * d);
  const double blocks = 57 * 2 * n * 12 * d * d;
  const double embeddings = 2 * 4096 * d * 64 + 2 * 512 * d * 4096 + 2 * 4096 * 64 * d;
  EXPECT_DOUBLE_EQ(flops.linear, blocks + embeddings);
  EXPECT_EQ(flops.cross_attention, 0);
}

TEST(BenchRecordTest, FiguresKeepOrderUnitsAndMissingValues) {
  Record record{"case", "what ran", {}};
  record.add("seconds", "time", 1.5, "s")
      .add("ratio", "ratio", 0.8)
      .add("missing", "not measured", std::numeric_limits<double>::quiet_NaN(), "MiB");
  EXPECT_EQ(record.find("ratio"), 0.8);
  EXPECT_FALSE(record.find("absent").has_value());

  const nlohmann::ordered_json json = to_json(record);
  EXPECT_EQ(json["name"], "case");
  EXPECT_EQ(json["figures"].begin().key(), "seconds");
  EXPECT_EQ(json["figures"]["seconds"]["value"], 1.5);
  EXPECT_EQ(json["figures"]["seconds"]["unit"], "s");
  EXPECT_TRUE(json["figures"]["missing"]["value"].is_null());

  const std::string text = format_record(record);
  EXPECT_NE(text.find("case: what ran"), std::string::npos);
  EXPECT_NE(text.find("1.500 s"), std::string::npos);
  EXPECT_NE(text.find("n/a MiB"), std::string::npos);
}

TEST(BenchTimingTest, FastestRunAndMedian) {
  Timing timing;
  timing.add({3.0, 3.0});
  timing.add({1.0, 0.5});
  timing.add({2.0, 2.0});
  EXPECT_EQ(timing.best(), 1.0);
  EXPECT_EQ(timing.best_index(), 1);
  EXPECT_EQ(timing.median(), 2.0);
  EXPECT_EQ(timing.cpu_per_wall(), 0.5);
  int runs = 0;
  const Timing counted = time_runs([&] { ++runs; }, 2, 3);
  EXPECT_EQ(runs, 5);
  EXPECT_EQ(counted.count(), 3);
}

TEST(BenchGemmProbeTest, CpuProbeIsA2048CubedFloat32Product) {
  GemmProbe probe;
  probe.run();
  probe.run();
  EXPECT_EQ(probe.size(), 2048);
  EXPECT_EQ(probe.flops(), 2.0 * 2048 * 2048 * 2048);
  EXPECT_EQ(probe.timing().count(), 2);
  EXPECT_DOUBLE_EQ(probe.rate(), probe.flops() / probe.timing().best());
}

// A case's ratio is its own rate over the GEMM rate of the same run.
TEST(BenchCasesTest, RatioToGemmIsTheRateOverTheProbesRate) {
  const auto cases = serial_cases();
  const auto attention = std::find_if(
      cases.begin(), cases.end(), [](const BenchCase& c) { return c.name == "attention_1024"; });
  ASSERT_NE(attention, cases.end());
  const Record record = attention->run({/*warmup=*/0, /*repeats=*/1, /*seed=*/0});
  const double rate = *record.find("gflops");
  const double gemm = *record.find("gemm_gflops");
  EXPECT_GT(rate, 0);
  EXPECT_GT(gemm, 0);
  EXPECT_DOUBLE_EQ(*record.find("ratio_to_gemm"), rate / gemm);
}

TEST(BenchMemoryTest, PeakCoversResidentSet) {
  reset_peak_memory();
  const MemoryUsage usage = memory_usage();
  EXPECT_GT(usage.peak_resident_bytes, 0);
  EXPECT_GE(usage.peak_resident_bytes, usage.resident_bytes);
}

}  // namespace
}  // namespace xdit::bench
