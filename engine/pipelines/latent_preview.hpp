#pragma once
// A cheap look at latents while they are denoised: a per-model linear map
// from the latent channels to RGB, one image pixel per latent pixel, instead
// of a VAE decode for every preview. The VAE decoder is far from linear, but
// its local colour response to each channel is close enough to show the
// composition forming.

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "io/model_folder.hpp"
#include "models/autoencoder_kl.hpp"

namespace xdit::pipelines {

struct LatentPreview {
  at::Tensor weight;  // float32 [3, C]: RGB in [0, 1] per latent channel
  at::Tensor bias;    // float32 [3]

  // latents [N, C, h, w] as the pipeline denoises them (VAE-scaled) ->
  // uint8 [N, h, w, 3].
  at::Tensor project(const at::Tensor& latents) const;
};

// Fits the map by least squares to what `vae` makes of `samples` random
// latents of `side` × `side` (unit variance, like denoised latents), each
// decoded image averaged down to one pixel per latent pixel.
LatentPreview fit_latent_preview(const models::AutoencoderKL& vae, int64_t samples = 4,
                                 int64_t side = 16, uint64_t seed = 0);

// The map for a pipeline folder. A VAE small enough to load and run in a
// moment (the built-in model's random one) gets a fitted map; the large
// 4-channel VAEs of real checkpoints get the approximate factors published
// for them (SD's VAE of PixArt-α, SDXL's of PixArt-Σ, told apart by their
// scaling_factor), so that no 300 MB decoder is loaded for a preview.
LatentPreview latent_preview_for(const io::ModelFolder& folder);

}  // namespace xdit::pipelines
