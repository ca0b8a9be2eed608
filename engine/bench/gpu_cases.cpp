#include "bench/gpu_cases.hpp"

#include <ATen/ATen.h>
#include <c10/util/StringUtil.h>

#include <memory>

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

  const StepFlops flops = pixart_step_flops(config, kPixArtCfgBatch, tokens, kPixArtTextTokens);
  const double tflops = flops.total() / timing.best() / kTera;
  const double gemm_tflops = gemm.rate() / kTera;
  Record record{c10::str("pixart_xl_", pixels, "px_gpu"),
                c10::str("PixArt-XL/2 step, 28 layers, ", pixels, " x ", pixels, " px (", tokens,
                         " tokens), CFG batch 2, bfloat16, ", gpu_name(device.index())),
                {}};
  record.add("seconds_per_step", "time per step (fastest)", timing.best(), "s");
  record.add("seconds_per_step_median", "time per step (median)", timing.median(), "s");
  record.add("tflops", "achieved rate", tflops, "TFLOP/s");
  record.add("gemm_tflops", "bfloat16 GEMM rate, same run", gemm_tflops, "TFLOP/s");
  record.add("ratio_to_gemm", "ratio to GEMM rate", tflops / gemm_tflops);
  record.add("gflop_per_step", "work per step", flops.total() / 1e9, "GFLOP");
  record.add("peak_allocated_mib", "peak GPU memory (allocated, timed steps)",
             static_cast<double>(memory.peak_allocated_bytes) / kMiB, "MiB");
  record.add("reserved_mib", "GPU memory reserved by the caching allocator",
             static_cast<double>(memory.reserved_bytes) / kMiB, "MiB");
  return record;
}

}  // namespace

std::vector<BenchCase> gpu_cases() {
  return {
      {"gpu_gemm", "bfloat16 GEMM rate of this GPU (8192^3)", gemm_case},
      {"pixart_xl_1024px_gpu", "PixArt-XL/2 step at 1024 px, bfloat16, on the GPU",
       [](const BenchSettings& s) { return pixart_gpu_case(s, 1024); }},
      {"pixart_xl_2048px_gpu", "PixArt-XL/2 step at 2048 px, bfloat16, on the GPU",
       [](const BenchSettings& s) { return pixart_gpu_case(s, 2048); }},
  };
}

}  // namespace xdit::bench
