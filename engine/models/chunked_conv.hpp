#pragma once
// Convolution of a feature map by bands of rows, for decoding large images
// without a memory spike and for decoding a band of the image on each rank.
//
// Why rows: at 2048x2048 the last decoder stages hold full-resolution maps
// (128 channels in the SD VAE: 2 GiB each in float32), and a convolution over
// a whole map adds its workspace on top: CPU im2col columns nine times the
// input, or oneDNN's reordered copies of input and output. Computing the
// output a few rows at a time from the input rows they need (one halo row
// above and below for a 3x3 kernel) bounds that workspace by the chunk, while
// the output is written into one preallocated map.

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "models/layers.hpp"
#include "models/vae_blocks.hpp"

namespace xdit::models {

// The rows a "same" convolution (odd kernel k, stride 1, padding (k - 1) / 2)
// reads above and below each output row: (k - 1) / 2. UsageError naming
// `who` for any other convolution, which rows cannot be split for.
int64_t conv_row_halo(const Conv2d& layer, const char* who);

// The convolution of the rows `x` [B, C, H, W] of a taller map whose rows
// just above and below are `above` and `below` ([B, C, halo, W] each;
// undefined at the map's border, where the padding is zeros). Output [B, O,
// H, W], computed `chunk_rows` output rows at a time (0: all at once).
at::Tensor conv_rows(const at::Tensor& x, const Conv2d& layer, const at::Tensor& above,
                     const at::Tensor& below, int64_t chunk_rows);

// Whole-map operations, except convolutions, which run in chunks of rows.
class ChunkedSpatialOps final : public SpatialOps {
 public:
  // UsageError unless chunk_rows >= 1.
  explicit ChunkedSpatialOps(int64_t chunk_rows);
  at::Tensor conv(const at::Tensor& x, const Conv2d& layer) override;

 private:
  int64_t chunk_rows_;
};

}  // namespace xdit::models
