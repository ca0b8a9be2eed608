#include "bench/serial_cases.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "bench/flops.hpp"
#include "bench/gemm_probe.hpp"
#include "bench/memory.hpp"
#include "bench/op_breakdown.hpp"
#include "bench/timed_attention.hpp"
#include "bench/timing.hpp"
#include "core/large_allocation_reuse.hpp"
#include "core/torch_compat.hpp"
#include "io/synthetic_weights.hpp"
#include "models/attention.hpp"
#include "models/attention_strategy.hpp"
#include "models/pixart_transformer.hpp"

namespace xdit::bench {
namespace {

constexpr double kGiga = 1e9;
constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// PixArt-XL/2 sampled with classifier-free guidance: the conditional and
// unconditional halves form a batch of two; prompts are T5-XXL embeddings.
constexpr int64_t kCfgBatch = kPixArtCfgBatch;
constexpr int64_t kTextTokens = kPixArtTextTokens;
constexpr int64_t kCaptionChannels = 4096;
constexpr int64_t kHeads = 16;
constexpr int64_t kHeadDim = 72;
constexpr int64_t kVaeDownsampling = 8;

// Runs `work` settings.warmup times, then settings.repeats times timed, each
// timed run preceded by a GEMM probe run and wrapped in the two hooks.
Timing time_against_gemm(const BenchSettings& settings, GemmProbe& probe,
                         const std::function<void()>& work,
                         const std::function<void()>& before_each = {},
                         const std::function<void()>& after_each = {}) {
  for (int i = 0; i < settings.warmup; ++i)
    work();
  Timing timing;
  for (int i = 0; i < settings.repeats; ++i) {
    probe.run();
    if (before_each)
      before_each();
    timing.add(time_once(work));
    if (after_each)
      after_each();
  }
  return timing;
}

void add_rate(Record& record, double flops, const Timing& timing, const GemmProbe& probe) {
  const double gflops = flops / timing.best() / kGiga;
  record.add("gflops", "achieved rate", gflops, "GFLOP/s");
  record.add("gemm_gflops", "GEMM rate, same run", probe.rate() / kGiga, "GFLOP/s");
  record.add("ratio_to_gemm", "ratio to GEMM rate", flops / timing.best() / probe.rate());
  record.add("cpu_per_wall", "CPU / wall time (cores used)", timing.cpu_per_wall());
}

Record gemm_case(const BenchSettings& settings) {
  const compat::InferenceGuard inference;
  GemmProbe probe;
  for (int i = 0; i < settings.warmup; ++i)
    probe.run();
  GemmProbe timed;
  // Short runs: more of them, so that one undisturbed run is among them.
  for (int i = 0; i < std::max(settings.repeats, 5); ++i)
    timed.run();
  Record record{
      "gemm",
      "2048 x 2048 x 2048 float32 at::mm, " + std::to_string(at::get_num_threads()) + " thread(s)",
      {}};
  record.add("gflops", "rate (fastest run)", timed.rate() / kGiga, "GFLOP/s");
  record.add("seconds", "time per product (fastest)", timed.timing().best(), "s");
  record.add("seconds_median", "time per product (median)", timed.timing().median(), "s");
  record.add("cpu_per_wall", "CPU / wall time (cores used)", timed.timing().cpu_per_wall());
  return record;
}

Record attention_case(const BenchSettings& settings, int64_t tokens) {
  const compat::InferenceGuard inference;
  at::manual_seed(static_cast<uint64_t>(settings.seed));
  // Heads of [B, L, H * D] projections, as the transformer hands them over.
  const auto heads_view = [&] {
    return at::randn({kCfgBatch, tokens, kHeads, kHeadDim}).transpose(1, 2);
  };
  const at::Tensor q = heads_view(), k = heads_view(), v = heads_view();
  const double scale = 1.0 / std::sqrt(static_cast<double>(kHeadDim));

  // The first run doubles as a warm-up and as the memory measurement.
  const bool peak_reset = reset_peak_memory();
  const int64_t resident_before = memory_usage().resident_bytes;
  models::attention(q, k, v, {}, scale);
  const int64_t growth = memory_usage().peak_resident_bytes - resident_before;

  GemmProbe probe;
  BenchSettings rest = settings;
  rest.warmup = std::max(settings.warmup - 1, 0);
  const Timing timing =
      time_against_gemm(rest, probe, [&] { models::attention(q, k, v, {}, scale); });

  const std::string size = std::to_string(tokens);
  Record record{"attention_" + size,
                "self-attention, B 2 x 16 heads x " + size + " tokens x 72, float32, " +
                    std::to_string(at::get_num_threads()) + " thread(s)",
                {}};
  record.add("seconds", "time per call (fastest)", timing.best(), "s");
  add_rate(record, attention_flops(kCfgBatch, kHeads, tokens, tokens, kHeadDim), timing, probe);
  const double score_bytes = 4.0 * kCfgBatch * kHeads * static_cast<double>(tokens) * tokens;
  record.add("naive_scores_mib", "naive score matrix would take", score_bytes / kMiB, "MiB");
  record.add(
      "workspace_mib", "kernel working memory (all threads)",
      static_cast<double>(models::attention_workspace_bytes(tokens, tokens, kHeadDim, kHeadDim)) *
          at::get_num_threads() / kMiB,
      "MiB");
  record.add("output_mib", "output tensor",
             4.0 * kCfgBatch * kHeads * static_cast<double>(tokens) * kHeadDim / kMiB, "MiB");
  record.add("peak_growth_mib", "measured peak RSS growth, one call",
             peak_reset ? static_cast<double>(growth) / kMiB : kNaN, "MiB");
  return record;
}

Record pixart_step_case(const BenchSettings& settings, const std::string& name, int64_t pixels,
                        int64_t layers) {
  const compat::InferenceGuard inference;
  const bool peak_reset = reset_peak_memory();
  const models::PixArtConfig config = pixart_xl_config(layers);
  auto source = std::make_shared<io::SyntheticWeights>(settings.seed, "random PixArt-XL weights");
  const models::PixArtTransformer model(config, io::Weights(source, at::kFloat));
  double weight_bytes = 0;
  for (const auto& [key, tensor] : source->tensors()) {
    weight_bytes += static_cast<double>(tensor.nbytes());
  }

  at::manual_seed(static_cast<uint64_t>(settings.seed));
  const int64_t latent_size = pixels / kVaeDownsampling;
  const int64_t tokens = (latent_size / config.patch_size) * (latent_size / config.patch_size);
  const at::Tensor latent = at::randn({kCfgBatch, config.in_channels, latent_size, latent_size});
  const at::Tensor text = at::randn({kCfgBatch, kTextTokens, kCaptionChannels});
  const at::Tensor timestep = at::full({kCfgBatch}, 500, at::kLong);
  // Every prompt token kept: the bias path runs as in the pipeline.
  const at::Tensor mask = at::ones({kCfgBatch, kTextTokens}, at::kLong);

  models::LocalAttention local;
  TimedAttention timed(local);
  std::vector<double> attention_seconds;
  GemmProbe probe;
  const LargeAllocationReuse reuse;  // as in the pipeline's denoising loop
  const auto step = [&] { model.forward(latent, text, timestep, mask, {}, {}, &timed); };
  const Timing timing = time_against_gemm(
      settings, probe, step, [&] { timed.reset(); },
      [&] { attention_seconds.push_back(timed.seconds()); });
  const MemoryUsage memory = memory_usage();
  // One more step, observed op by op (the observation costs a little, so it
  // is not among the timed ones).
  OpBreakdown breakdown;
  const double observed_seconds = time_once(step).wall_seconds;

  const StepFlops flops = pixart_step_flops(config, kCfgBatch, tokens, kTextTokens);
  Record record{name,
                "PixArt-XL/2 step, " + std::to_string(layers) + " layers, " +
                    std::to_string(pixels) + " x " + std::to_string(pixels) + " px (" +
                    std::to_string(tokens) + " tokens), CFG batch 2, " +
                    std::to_string(kTextTokens) + " prompt tokens, random weights, " +
                    std::to_string(at::get_num_threads()) + " thread(s)",
                {}};
  record.add("seconds_per_step", "time per step (fastest)", timing.best(), "s");
  record.add("seconds_per_step_median", "time per step (median)", timing.median(), "s");
  add_rate(record, flops.total(), timing, probe);
  record.add("self_attention_share", "self-attention share of step time",
             attention_seconds[timing.best_index()] / timing.best());
  record.add("breakdown_seconds", "one observed step, by kind of op", observed_seconds, "s");
  add_breakdown(record, breakdown, observed_seconds);
  record.add("gflop_per_step", "work per step", flops.total() / kGiga, "GFLOP");
  record.add("gflop_linear", "  linear layers", flops.linear / kGiga, "GFLOP");
  record.add("gflop_self_attention", "  self-attention", flops.self_attention / kGiga, "GFLOP");
  record.add("gflop_cross_attention", "  cross-attention", flops.cross_attention / kGiga, "GFLOP");
  record.add("weights_mib", "weights", weight_bytes / kMiB, "MiB");
  record.add("peak_rss_mib", peak_reset ? "peak RSS (this case)" : "peak RSS (whole process)",
             static_cast<double>(memory.peak_resident_bytes) / kMiB, "MiB");
  return record;
}

}  // namespace

models::PixArtConfig pixart_xl_config(int64_t layers) {
  models::PixArtConfig config;
  config.num_attention_heads = kHeads;
  config.attention_head_dim = kHeadDim;
  config.in_channels = 4;
  config.out_channels = 8;  // learned sigma
  config.num_layers = layers;
  config.cross_attention_dim = kHeads * kHeadDim;
  config.patch_size = 2;
  config.sample_size = 128;
  config.caption_channels = kCaptionChannels;
  config.use_additional_conditions = false;
  return config;
}

std::vector<BenchCase> serial_cases() {
  return {
      {"gemm", "GEMM rate of this LibTorch (2048^3 float32)", gemm_case},
      {"attention_1024", "attention kernel at 1024 tokens vs GEMM",
       [](const BenchSettings& s) { return attention_case(s, 1024); }},
      {"attention_4096", "attention kernel at 4096 tokens vs GEMM, memory",
       [](const BenchSettings& s) { return attention_case(s, 4096); }},
      {"pixart_xl_256px", "PixArt-XL/2 step (28 layers) at 256 px",
       [](const BenchSettings& s) { return pixart_step_case(s, "pixart_xl_256px", 256, 28); }},
      {"pixart_xl_1024px_4_layers", "first 4 layers of PixArt-XL/2 at 1024 px, peak memory",
       [](const BenchSettings& s) {
         return pixart_step_case(s, "pixart_xl_1024px_4_layers", 1024, 4);
       }},
  };
}

}  // namespace xdit::bench
