#pragma once
// Convolution of a feature map by bands of rows, for decoding large images
// without a memory spike and for decoding a band of the image on each rank.
//
// What dominates the peak: at 2048 x 2048 the last decoder stages hold
// full-resolution maps (128 channels in the SD VAE: 2 GiB each in float32,
// 512 MiB in the built-in VAE's 32). A resnet half on whole maps holds its
// input x (kept for the residual), the normalised copy of x and the
// convolution's output, and the convolution adds its own workspace (CPU
// im2col columns nine times its input, or oneDNN's reordered copies of input
// and output): four to five maps. Computing the output a few rows at a time
// from the input rows they need (one halo row above and below for a 3x3
// kernel), normalising just those rows on the way in, and writing the result
// into a preallocated map (or over the input when the caller hands it over)
// leaves two maps and a chunk.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>

#include "models/layers.hpp"
#include "models/vae_blocks.hpp"

namespace xdit::models {

// The rows a "same" convolution (odd kernel k, stride 1, padding (k - 1) / 2)
// reads above and below each output row: (k - 1) / 2. UsageError naming
// `who` for any other convolution, which rows cannot be split for.
int64_t conv_row_halo(const Conv2d& layer, const char* who);

// A group norm as the per-channel affine map it applies once its statistics
// are known: y = x * scale + shift, both [B, C, 1, 1] in x's dtype.
struct ChannelAffine {
  at::Tensor scale;
  at::Tensor shift;
};

// The group norm of x [B, C, H, W] as that affine map. `combine`, when set,
// receives the float64 sums [3, B, groups] (count, sum, sum of squares) of x
// and must replace them by the sums over the whole map (a band's all-reduce).
ChannelAffine group_norm_affine(const at::Tensor& x, const GroupNorm& layer,
                                const std::function<void(at::Tensor& sums)>& combine = {});

// A pointwise map applied to input rows before they are convolved, in place
// on a copy of the rows that conv_rows owns.
using RowTransform = std::function<void(at::Tensor& rows)>;

// rows = activation(rows * scale + shift).
RowTransform norm_activation(ChannelAffine affine, Activation activation);

// The convolution of `prepare(rows)` for the rows `x` [B, C, H, W] of a
// taller map whose rows just above and below are `above` and `below` ([B, C,
// halo, W] each, before `prepare`; undefined at the map's border, where the
// padding is zeros). Output [B, O, H, W], computed `chunk_rows` output rows
// at a time (0: all at once). `overwrite_x`: the caller hands x over, and
// when O == C and there are several chunks the output is written into x's
// storage (and returned).
at::Tensor conv_rows(const at::Tensor& x, const Conv2d& layer, const at::Tensor& above,
                     const at::Tensor& below, int64_t chunk_rows, const RowTransform& prepare = {},
                     bool overwrite_x = false);

// The chunk height decoding picks for an image of `height` x `width` pixels:
// whole maps (0) up to 1024 x 1024, where the workspace is still small, and
// kAutoChunkRows rows above (at 2048 x 2048 with the built-in VAE: half the
// peak memory for ~8 % more time on one thread).
inline constexpr int64_t kAutoChunkRows = 64;
int64_t automatic_chunk_rows(int64_t height, int64_t width);

// Whole-map operations, except that convolutions (with the group norm and
// activation before them) run in chunks of rows.
class ChunkedSpatialOps final : public SpatialOps {
 public:
  // UsageError unless chunk_rows >= 1.
  explicit ChunkedSpatialOps(int64_t chunk_rows);
  at::Tensor conv(const at::Tensor& x, const Conv2d& layer) override;
  at::Tensor norm_act_conv(at::Tensor x, const GroupNorm& norm, Activation activation,
                           const Conv2d& layer, bool x_reusable) override;

 private:
  int64_t chunk_rows_;
};

}  // namespace xdit::models
