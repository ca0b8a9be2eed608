#pragma once
// Patch-parallel VAE decoding (xDiT's --use_parallel_vae): the decoder's
// feature maps are split by rows into one band per member of a group, and
// every band is decoded by its own rank through the decoder's SpatialOps
// seam. What a pixel needs from other rows is exchanged:
//   - 3x3 convolutions: the halo rows just above and below each band, sent
//     point to point between neighbouring members;
//   - group norm: per-band sums (count, sum, sum of squares, in float64)
//     all-reduced, so that every band normalises with whole-map statistics
//     (on the way into the next convolution, a few rows at a time);
//   - the mid block's self-attention: keys and values of all bands gathered
//     (the map is smallest there), each band attending with its own queries.
// Nearest 2x upsampling and 1x1 convolutions are local; bands double in
// height with the map. The result equals the single-process decode up to
// float32 rounding.
//
// Like xDiT, the decode runs over the whole world once denoising is done.
// Bands may be uneven: with H latent rows over N members, the first H % N
// bands have one row more.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "models/autoencoder_kl.hpp"
#include "models/chunked_conv.hpp"
#include "models/vae_blocks.hpp"
#include "parallel/group.hpp"

namespace xdit::parallel {

// The rows of each of `parts` bands of `rows` rows, in order. UsageError
// naming --use_parallel_vae when a band would be empty (more ranks than
// latent rows); `image_rows` (the decoded height) is quoted in it.
std::vector<int64_t> split_rows(int64_t rows, int parts, int64_t image_rows);

// The decoder's operations on this member's band. `band_rows` holds every
// member's rows of the decoder's input, in member order; at every later
// resolution the bands keep the same proportions.
class BandSpatialOps final : public models::SpatialOps {
 public:
  // `chunk_rows` > 0 also runs each band's convolutions in chunks of rows.
  BandSpatialOps(Group& group, std::vector<int64_t> band_rows, int64_t chunk_rows = 0);

  at::Tensor conv(const at::Tensor& x, const models::Conv2d& layer) override;
  at::Tensor group_norm(const at::Tensor& x, const models::GroupNorm& layer) override;
  at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                       double scale) override;
  at::Tensor norm_act_conv(at::Tensor x, const models::GroupNorm& norm,
                           models::Activation activation, const models::Conv2d& layer,
                           bool x_reusable) override;

  // Every member's band of a map along `dim`, concatenated in member order.
  // `band` is this member's part; all parts scale with band_rows.
  at::Tensor gather_bands(const at::Tensor& band, int64_t dim);

 private:
  struct Halo {
    at::Tensor above;  // undefined at the image's top
    at::Tensor below;  // undefined at its bottom
  };
  // The neighbours' `halo` rows next to this band (halo rows of this band
  // sent to them in exchange).
  Halo exchange_halo(const at::Tensor& x, int64_t halo);
  models::ChannelAffine whole_map_norm(const at::Tensor& x, const models::GroupNorm& layer);

  Group& group_;
  std::vector<int64_t> band_rows_;
  int64_t chunk_rows_;
};

// Decodes the whole latents `z` (the same on every member, already
// unscaled) with its rows split over `group`; every member calls it and gets
// the whole image, as vae.decode(z) would give it.
at::Tensor decode_in_bands(const models::AutoencoderKL& vae, const at::Tensor& z, Group& group,
                           int64_t chunk_rows = 0);

}  // namespace xdit::parallel
