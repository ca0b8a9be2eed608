#include "pipelines/latent_preview.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <array>
#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "io/weight_source.hpp"

namespace xdit::pipelines {
namespace {

// A decoder with weights under this size is loaded and fitted: it takes well
// under a second, where a real VAE (160-340 MB) would take several.
constexpr uintmax_t kFitBytesLimit = 64ull << 20;

// The community's approximate latent -> RGB factors for the SD 1.x/2.x VAE
// and the SDXL VAE (rows: latent channel; columns: R, G, B; RGB in [-1, 1]),
// as used by ComfyUI's and A1111's cheap previews.
using Factors = std::array<std::array<float, 3>, 4>;
constexpr Factors kSdFactors = {{{0.3512f, 0.2297f, 0.3227f},
                                 {0.3250f, 0.4974f, 0.2350f},
                                 {-0.2829f, 0.1762f, 0.2721f},
                                 {-0.2120f, -0.2616f, -0.7177f}}};
constexpr Factors kSdxlFactors = {{{0.3651f, 0.4232f, 0.4341f},
                                   {-0.2533f, -0.0042f, 0.1068f},
                                   {0.1076f, 0.1111f, -0.0362f},
                                   {-0.3165f, -0.2492f, -0.2188f}}};
constexpr std::array<float, 3> kSdxlBias = {0.1084f, -0.0175f, -0.0011f};
constexpr double kSdxlScalingFactor = 0.13025;

// Published factors map to [-1, 1]; the preview's map gives [0, 1].
LatentPreview from_factors(const Factors& factors, const std::array<float, 3>& bias) {
  at::Tensor weight = at::empty({3, 4}, at::kFloat);
  at::Tensor offset = at::empty({3}, at::kFloat);
  for (int64_t rgb = 0; rgb < 3; ++rgb) {
    for (int64_t channel = 0; channel < 4; ++channel)
      weight[rgb][channel] = factors[channel][rgb] / 2;
    offset[rgb] = bias[rgb] / 2 + 0.5f;
  }
  return {weight, offset};
}

uintmax_t weights_bytes(const io::ModelFolder& folder) {
  const io::WeightsFile file = folder.weights_file("vae");
  // A sharded VAE is a large one.
  return file.sharded ? kFitBytesLimit : std::filesystem::file_size(file.path);
}

}  // namespace

at::Tensor LatentPreview::project(const at::Tensor& latents) const {
  if (latents.dim() != 4 || latents.size(1) != weight.size(1)) {
    throw UsageError("a latent preview of " + std::to_string(weight.size(1)) +
                     " channels cannot show latents of shape " + c10::str(latents.sizes()));
  }
  const at::Tensor rgb = at::einsum("rc,nchw->nhwr", {weight, latents.to(at::kFloat)}) + bias;
  return rgb.clamp(0, 1).mul_(255).round_().to(at::kByte).contiguous();
}

LatentPreview fit_latent_preview(const models::AutoencoderKL& vae, int64_t samples, int64_t side,
                                 uint64_t seed) {
  const auto& config = vae.config();
  const int64_t channels = config.latent_channels;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor latents =
      at::randn({samples, channels, side, side}, generator, at::TensorOptions().dtype(at::kFloat));
  at::Tensor z = latents / config.scaling_factor;
  if (config.shift_factor)
    z = z + *config.shift_factor;
  at::Tensor images;
  {
    const compat::InferenceGuard no_grad;
    images = vae.decode(z.to(vae.dtype())).to(at::kFloat);
  }
  images = (images / 2 + 0.5).clamp(0, 1);
  const int64_t scale = images.size(2) / side;
  const at::Tensor targets = at::avg_pool2d(images, {scale, scale});  // [S, 3, side, side]

  // Rows: latent pixels; columns: the channels and a constant for the bias.
  const at::Tensor inputs = at::cat({latents.permute({0, 2, 3, 1}).reshape({-1, channels}),
                                     at::ones({samples * side * side, 1}, at::kFloat)},
                                    1);
  const at::Tensor outputs = targets.permute({0, 2, 3, 1}).reshape({-1, 3});
  const at::Tensor solution = std::get<0>(at::linalg_lstsq(inputs, outputs));  // [C + 1, 3]
  return {solution.slice(0, 0, channels).t().contiguous(), solution[channels].contiguous()};
}

LatentPreview latent_preview_for(const io::ModelFolder& folder) {
  const auto config = models::AutoencoderKLConfig::from_config(folder.config("vae"));
  if (config.latent_channels != 4 || weights_bytes(folder) < kFitBytesLimit) {
    const io::Weights weights(folder.weights("vae"), at::kFloat);
    const models::AutoencoderKL vae(config, weights, models::AutoencoderKL::Parts::kDecoder);
    return fit_latent_preview(vae);
  }
  if (std::abs(config.scaling_factor - kSdxlScalingFactor) < 1e-6)
    return from_factors(kSdxlFactors, kSdxlBias);
  return from_factors(kSdFactors, {0, 0, 0});
}

}  // namespace xdit::pipelines
