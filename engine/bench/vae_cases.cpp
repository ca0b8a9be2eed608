#include "bench/vae_cases.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <map>
#include <string>

#include "bench/memory.hpp"
#include "bench/timing.hpp"
#include "core/torch_compat.hpp"
#include "io/model_folder.hpp"
#include "io/synthetic_weights.hpp"
#include "models/chunked_conv.hpp"
#include "pipelines/builtin_models.hpp"

namespace xdit::bench {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr int64_t kLatentSide = 256;

Record decode_case(const BenchSettings& settings, const std::string& name, int64_t chunk_rows) {
  const compat::InferenceGuard inference;
  const models::AutoencoderKLConfig config = builtin_vae_config();
  const auto vae = random_vae_decoder(config, settings.seed);
  at::manual_seed(settings.seed);
  const at::Tensor z = at::randn({1, config.latent_channels, kLatentSide, kLatentSide});
  const int64_t side = kLatentSide * config.spatial_scale();

  // One decode: its peak is the figure, and a second would only repeat it.
  const bool peak_reset = reset_peak_memory();
  const int64_t resident_before = memory_usage().resident_bytes;
  at::Tensor image;
  const Sample sample = time_once([&] {
    if (chunk_rows > 0) {
      models::ChunkedSpatialOps ops(chunk_rows);
      image = vae->decode(z, ops);
    } else {
      image = vae->decode(z);
    }
  });
  const MemoryUsage memory = memory_usage();

  // The largest feature map: the last up block's channels at full resolution.
  const double feature_map = static_cast<double>(side * side * config.block_out_channels.front() *
                                                 static_cast<int64_t>(sizeof(float)));
  Record record{
      name,
      "VAE decode " + std::to_string(side) + " x " + std::to_string(side) +
          " px, builtin:tiny-pixart VAE shape, random weights, " +
          (chunk_rows > 0 ? "convolutions in chunks of " + std::to_string(chunk_rows) + " rows"
                          : std::string("whole feature maps")) +
          ", " + std::to_string(at::get_num_threads()) + " thread(s)",
      {}};
  record.add("seconds", "time of one decode", sample.wall_seconds, "s");
  record.add("feature_map_mib", "largest feature map", feature_map / kMiB, "MiB");
  record.add("image_mib", "decoded image", static_cast<double>(image.nbytes()) / kMiB, "MiB");
  record.add("peak_growth_mib", "peak RSS growth during the decode",
             static_cast<double>(memory.peak_resident_bytes - resident_before) / kMiB, "MiB");
  record.add("peak_rss_mib", peak_reset ? "peak RSS (this case)" : "peak RSS (whole process)",
             static_cast<double>(memory.peak_resident_bytes) / kMiB, "MiB");
  return record;
}

}  // namespace

std::unique_ptr<models::AutoencoderKL> random_vae_decoder(const models::AutoencoderKLConfig& config,
                                                          uint64_t seed, at::ScalarType dtype) {
  // The model asks SyntheticWeights for its keys and shapes; the 1-D tensors
  // (norm scales, biases) are then perturbed.
  auto synthetic = std::make_shared<io::SyntheticWeights>(seed, "random VAE");
  const models::AutoencoderKL asks_for_keys(config, io::Weights(synthetic, at::kFloat),
                                            models::AutoencoderKL::Parts::kDecoder);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [key, tensor] : synthetic->tensors()) {
    tensors[key] = tensor.dim() == 1 ? tensor + 0.2 * at::randn(tensor.sizes(), generator) : tensor;
  }
  const io::Weights weights(
      std::make_shared<io::TensorMapWeights>(std::move(tensors), "random VAE"), dtype);
  auto vae = std::make_unique<models::AutoencoderKL>(config, weights,
                                                     models::AutoencoderKL::Parts::kDecoder);
  weights.expect_all_used();
  return vae;
}

models::AutoencoderKLConfig builtin_vae_config() {
  const io::ModelFolder folder(pipelines::resolve_model("builtin:tiny-pixart"));
  return models::AutoencoderKLConfig::from_config(folder.config("vae"));
}

std::vector<BenchCase> vae_cases() {
  return {
      {"vae_decode_2048", "VAE decode at 2048 x 2048, whole feature maps: time, peak RSS",
       [](const BenchSettings& s) { return decode_case(s, "vae_decode_2048", 0); }},
      {"vae_decode_2048_chunked",
       "VAE decode at 2048 x 2048, convolutions in chunks of rows: time, peak RSS",
       [](const BenchSettings& s) {
         return decode_case(s, "vae_decode_2048_chunked", kBenchChunkRows);
       }},
  };
}

}  // namespace xdit::bench
