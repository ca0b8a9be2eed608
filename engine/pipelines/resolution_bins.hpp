#pragma once
// PixArt models are trained on a fixed set of aspect-ratio buckets per base
// resolution. As in diffusers, a requested size is generated at the bucket of
// the nearest aspect ratio and the image is then resized and centre-cropped
// back to the requested size.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace xdit::pipelines {

struct AspectRatioBin {
  double ratio;  // height / width, as the key of diffusers' table
  int64_t height;
  int64_t width;
};

// The bucket table for a transformer's `sample_size` (latent side at the
// model's base resolution): 32 → 256 px, 64 → 512, 128 → 1024, 256 → 2048.
// Empty for other sizes (no binning then).
std::vector<AspectRatioBin> aspect_ratio_bins(int64_t sample_size);

// The bucket nearest to height/width (first one on ties, as diffusers' min()).
AspectRatioBin nearest_bin(const std::vector<AspectRatioBin>& bins, int64_t height, int64_t width);

// Resizes (bilinear, no corner alignment) so that the image covers the target
// and crops the centre, as diffusers' PixArtImageProcessor.resize_and_crop_tensor.
// `images`: [B, C, H, W] floating point.
at::Tensor resize_and_crop(const at::Tensor& images, int64_t height, int64_t width);

}  // namespace xdit::pipelines
