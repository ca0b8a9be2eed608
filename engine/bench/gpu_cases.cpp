#include "bench/gpu_cases.hpp"

#include <ATen/ATen.h>
#include <c10/util/StringUtil.h>

#include <functional>
#include <memory>
#include <string>

#include "bench/flops.hpp"
#include "bench/gemm_probe.hpp"
#include "bench/timing.hpp"
#include "core/device.hpp"
#include "core/gpu_info.hpp"
#include "core/torch_compat.hpp"
#include "io/synthetic_weights.hpp"

namespace xdit::bench {
namespace {

constexpr double kTera = 1e12;
constexpr double kMiB = 1024.0 * 1024.0;
constexpr int64_t kVaeDownsampling = 8;

at::Device gpu() {
  return resolve_device("cuda", 0);
}

Record gemm_case(const BenchSettings& settings) {
  const compat::InferenceGuard inference;
  const at::Device device = gpu();
  GemmProbe warm(device);
  for (int i = 0; i < settings.warmup + 2; ++i)
    warm.run();
  GemmProbe timed(device);
  for (int i = 0; i < std::max(settings.repeats, 10); ++i)
    timed.run();
  Record record{
      "gpu_gemm", c10::str(timed.size(), "^3 bfloat16 at::mm on ", gpu_name(device.index())), {}};
  record.add("tflops", "rate (fastest run)", timed.rate() / kTera, "TFLOP/s");
  record.add("seconds", "time per product (fastest)", timed.timing().best(), "s");
  record.add("seconds_median", "time per product (median)", timed.timing().median(), "s");
  return record;
}

// Times `step` on `device`, a GEMM between steps so that the rate it is
// compared with is the same run's, and reports it with the GPU's memory.
Record gpu_step_record(std::string name, std::string description, const BenchSettings& settings,
                       at::Device device, const std::function<void()>& step, double flop) {
  for (int i = 0; i < settings.warmup + 1; ++i)
    step();
  reset_gpu_peak(device.index());
  GemmProbe gemm(device);
  Timing timing;
  for (int i = 0; i < std::max(settings.repeats, 5); ++i) {
    gemm.run();
    timing.add(time_on(device, step));
  }
  const GpuMemory memory = gpu_memory(device.index());
  const double tflops = flop / timing.best() / kTera;
  const double gemm_tflops = gemm.rate() / kTera;
  Record record{std::move(name), std::move(description), {}};
  record.add("seconds_per_step", "time per step (fastest)", timing.best(), "s");
  record.add("seconds_per_step_median", "time per step (median)", timing.median(), "s");
  record.add("tflops", "achieved rate", tflops, "TFLOP/s");
  record.add("gemm_tflops", "bfloat16 GEMM rate, same run", gemm_tflops, "TFLOP/s");
  record.add("ratio_to_gemm", "ratio to GEMM rate", tflops / gemm_tflops);
  record.add("gflop_per_step", "work per step", flop / 1e9, "GFLOP");
  record.add("peak_allocated_mib", "peak GPU memory (allocated, timed steps)",
             static_cast<double>(memory.peak_allocated_bytes) / kMiB, "MiB");
  record.add("reserved_mib", "GPU memory reserved by the caching allocator",
             static_cast<double>(memory.reserved_bytes) / kMiB, "MiB");
  return record;
}

Record pixart_gpu_case(const BenchSettings& settings, int64_t pixels) {
  const compat::InferenceGuard inference;
  const at::Device device = gpu();
  const models::PixArtConfig config = pixart_xl_config(28);
  // Random weights are made on the CPU (as the checkpoint would be read)
  // and copied to the GPU in bfloat16 as they are asked for.
  auto source = std::make_shared<io::SyntheticWeights>(settings.seed, "random PixArt-XL weights");
  const models::PixArtTransformer model(config, io::Weights(source, at::kBFloat16).to(device));
  source.reset();

  at::manual_seed(static_cast<uint64_t>(settings.seed));
  const auto on_gpu = at::TensorOptions(device);
  const int64_t latent_size = pixels / kVaeDownsampling;
  const int64_t tokens = (latent_size / config.patch_size) * (latent_size / config.patch_size);
  const at::Tensor latent =
      at::randn({kPixArtCfgBatch, config.in_channels, latent_size, latent_size}, on_gpu);
  const at::Tensor text =
      at::randn({kPixArtCfgBatch, kPixArtTextTokens, *config.caption_channels}, on_gpu);
  const at::Tensor timestep = at::full({kPixArtCfgBatch}, 500, on_gpu.dtype(at::kLong));
  const at::Tensor mask = at::ones({kPixArtCfgBatch, kPixArtTextTokens}, on_gpu.dtype(at::kLong));
  const auto step = [&] { model.forward(latent, text, timestep, mask, {}, {}); };
  const StepFlops flops = pixart_step_flops(config, kPixArtCfgBatch, tokens, kPixArtTextTokens);
  return gpu_step_record(
      c10::str("pixart_xl_", pixels, "px_gpu"),
      c10::str("PixArt-XL/2 step, 28 layers, ", pixels, " x ", pixels, " px (", tokens,
               " tokens), CFG batch 2, bfloat16, ", gpu_name(device.index())),
      settings, device, step, flops.total());
}

// The Flux.1-dev transformer (19 double + 38 single blocks, 3072 wide,
// guidance embedding) at `pixels`² with 512 T5 tokens, one image: the shape
// of eager_dit_baseline.py's flux-dev cases, through the DiT seam as the
// pipeline runs it.
Record flux_gpu_case(const BenchSettings& settings, int64_t pixels) {
  const compat::InferenceGuard inference;
  const at::Device device = gpu();
  models::FluxConfig config;
  config.guidance_embeds = true;
  auto source = std::make_shared<io::SyntheticWeights>(settings.seed, "random Flux.1-dev weights");
  const models::FluxTransformer model(config, io::Weights(source, at::kBFloat16).to(device));
  source.reset();

  constexpr int64_t kTextTokens = 512;
  at::manual_seed(static_cast<uint64_t>(settings.seed));
  const auto on_gpu = at::TensorOptions(device).dtype(at::kBFloat16);
  const int64_t latent_size = pixels / kVaeDownsampling;
  const int64_t tokens = (latent_size / 2) * (latent_size / 2);
  const at::Tensor latent =
      at::randn({1, model.shape().latent_channels, latent_size, latent_size}, on_gpu);
  models::DitInputs inputs;
  inputs.text = at::randn({1, kTextTokens, config.joint_attention_dim}, on_gpu);
  inputs.pooled_text = at::randn({1, config.pooled_projection_dim}, on_gpu);
  inputs.guidance = at::full({1}, 3.5, on_gpu.dtype(at::kFloat));
  const at::Tensor timestep = at::full({1}, 500.0, on_gpu.dtype(at::kFloat));
  const auto step = [&] { model.predict(latent, timestep, inputs); };
  const StepFlops flops = flux_step_flops(config, 1, tokens, kTextTokens);
  return gpu_step_record(
      c10::str("flux_dev_", pixels, "px_gpu"),
      c10::str("Flux.1-dev step, 19 + 38 blocks, ", pixels, " x ", pixels, " px (", tokens, " + ",
               kTextTokens, " tokens), bfloat16, ", gpu_name(device.index())),
      settings, device, step, flops.total());
}

}  // namespace

std::vector<BenchCase> gpu_cases() {
  return {
      {"gpu_gemm", "bfloat16 GEMM rate of this GPU (8192^3)", gemm_case},
      {"pixart_xl_1024px_gpu", "PixArt-XL/2 step at 1024 px, bfloat16, on the GPU",
       [](const BenchSettings& s) { return pixart_gpu_case(s, 1024); }},
      {"pixart_xl_2048px_gpu", "PixArt-XL/2 step at 2048 px, bfloat16, on the GPU",
       [](const BenchSettings& s) { return pixart_gpu_case(s, 2048); }},
      {"flux_dev_1024px_gpu", "Flux.1-dev step at 1024 px, bfloat16, on the GPU",
       [](const BenchSettings& s) { return flux_gpu_case(s, 1024); }},
  };
}

}  // namespace xdit::bench
