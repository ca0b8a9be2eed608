#pragma once
// The input and conditioning embeddings of DiT-style transformers, with the
// math of diffusers v0.30.3 (embeddings.py, normalization.py): sinusoidal
// timestep features, the timestep/size MLPs and adaLN-single of PixArt, the
// caption projection, and the patch embedding with its 2-D sin-cos position
// table. Patch embedding and position table work on a band of patch rows, so
// that a rank or a pipeline stage can embed only the rows it holds.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

#include "io/weight_source.hpp"
#include "models/layers.hpp"

namespace xdit::models {

// diffusers get_timestep_embedding: timesteps [N] -> [N, channels], laid out
// [sin | cos], or [cos | sin] with flip_sin_to_cos. In float32 as diffusers
// computes it, whatever the timesteps' dtype, except for float64 timesteps
// (a float64 model, the reference twin of the error model), which get the
// exact angles: a float32 angle of t · freq errs by u·|t·freq|, up to ~2e-4
// rad for Flux's guidance × 1000, and that error belongs in the measure.
at::Tensor timestep_sinusoids(const at::Tensor& timesteps, int64_t channels, bool flip_sin_to_cos,
                              double downscale_freq_shift, double scale = 1.0,
                              double max_period = 10000.0);

// Linear -> SiLU -> Linear (diffusers TimestepEmbedding: linear_1, linear_2).
struct TimestepEmbedding {
  Linear linear_1;
  Linear linear_2;

  static TimestepEmbedding load(const io::Weights& weights, int64_t in_channels, int64_t embed_dim);
  at::Tensor operator()(const at::Tensor& x) const;
};

// Linear -> GELU(tanh) -> Linear (diffusers PixArtAlphaTextProjection).
struct TextProjection {
  Linear linear_1;
  Linear linear_2;

  static TextProjection load(const io::Weights& weights, int64_t in_features, int64_t hidden_size);
  at::Tensor operator()(const at::Tensor& caption) const;
};

// diffusers PixArtAlphaCombinedTimestepSizeEmbeddings: the timestep embedding,
// plus (PixArt-α at 1024 px) embeddings of the image resolution (2 x dim/3)
// and aspect ratio (dim/3), concatenated and added.
class CombinedTimestepSizeEmbedding {
 public:
  static constexpr int64_t kSinusoidChannels = 256;

  // `dim` must be divisible by 3 when `use_additional_conditions`.
  static CombinedTimestepSizeEmbedding load(const io::Weights& weights, int64_t dim,
                                            bool use_additional_conditions);
  bool uses_additional_conditions() const { return resolution_embedder_.has_value(); }

  // timestep [B]; resolution [B, 2] (height, width in pixels) and
  // aspect_ratio [B, 1] are required with additional conditions and ignored
  // without. Returns [B, dim] in the weights' dtype.
  at::Tensor operator()(const at::Tensor& timestep, const at::Tensor& resolution,
                        const at::Tensor& aspect_ratio) const;

 private:
  TimestepEmbedding timestep_embedder_;
  std::optional<TimestepEmbedding> resolution_embedder_;
  std::optional<TimestepEmbedding> aspect_ratio_embedder_;
};

// adaLN-single: one conditioning vector per sample, turned into the six
// shift/scale/gate rows that every block adds to its own table.
struct AdaLayerNormSingleOutput {
  at::Tensor modulation;         // [B, 6 * dim]
  at::Tensor embedded_timestep;  // [B, dim], for the output layer's shift/scale
};

class AdaLayerNormSingle {
 public:
  static AdaLayerNormSingle load(const io::Weights& weights, int64_t dim,
                                 bool use_additional_conditions);
  bool uses_additional_conditions() const { return emb_.uses_additional_conditions(); }
  AdaLayerNormSingleOutput operator()(const at::Tensor& timestep, const at::Tensor& resolution,
                                      const at::Tensor& aspect_ratio) const;

 private:
  CombinedTimestepSizeEmbedding emb_;
  Linear linear_;
};

// Rows [first_row, first_row + num_rows) of a grid_height x grid_width grid of
// patches: the whole image, or the band of rows one patch of PipeFusion or
// one rank holds. Tokens are numbered row-major within the band.
struct PatchRows {
  int64_t grid_height = 0;
  int64_t grid_width = 0;
  int64_t first_row = 0;
  int64_t num_rows = 0;

  static PatchRows whole(int64_t grid_height, int64_t grid_width);
  // Throws UsageError unless the band lies inside a non-empty grid.
  static PatchRows band(int64_t grid_height, int64_t grid_width, int64_t first_row,
                        int64_t num_rows);
  int64_t num_tokens() const { return num_rows * grid_width; }
};

// diffusers/numpy get_2d_sincos_pos_embed for the rows of `rows`:
// [rows.num_tokens(), embed_dim] float32. Coordinates are float32
// (index / (extent / base_size) / interpolation_scale), the sines float64 then
// float32; the column coordinate fills the first embed_dim/2 channels.
// embed_dim must be divisible by 4.
at::Tensor sincos_pos_embed_2d(int64_t embed_dim, const PatchRows& rows, int64_t base_size,
                               double interpolation_scale);

// diffusers PatchEmbed (sin-cos position embedding, no layer norm): a
// patch_size-strided convolution ("proj") to tokens, plus the position table
// recomputed for the actual grid, or (with pos_embed_max_size, SD3) the
// centre crop of a stored max_size x max_size table ("pos_embed").
class PatchEmbed {
 public:
  static PatchEmbed load(const io::Weights& weights, int64_t in_channels, int64_t embed_dim,
                         int64_t patch_size, int64_t base_size, double interpolation_scale);
  static PatchEmbed load_cropped(const io::Weights& weights, int64_t in_channels, int64_t embed_dim,
                                 int64_t patch_size, int64_t max_size);

  // latent: [B, C, rows.num_rows * p, rows.grid_width * p], the latent pixels
  // of the band `rows`. Returns tokens [B, rows.num_tokens(), embed_dim].
  at::Tensor operator()(const at::Tensor& latent, const PatchRows& rows) const;

  int64_t patch_size() const { return patch_size_; }

 private:
  // The table's rows for `rows`: [rows.num_tokens(), embed_dim].
  at::Tensor position(const PatchRows& rows) const;

  at::Tensor weight_;  // the convolution as a matrix [embed_dim, C * p * p]
  at::Tensor bias_;
  at::Tensor stored_table_;  // [max_size, max_size, embed_dim]; undefined: sin-cos
  int64_t in_channels_ = 0;
  int64_t patch_size_ = 1;
  int64_t base_size_ = 1;
  double interpolation_scale_ = 1.0;
};

// Inverse of the patch embedding's layout: tokens [B, rows.num_tokens(),
// p * p * C] -> [B, C, rows.num_rows * p, rows.grid_width * p].
at::Tensor unpatchify(const at::Tensor& tokens, const PatchRows& rows, int64_t patch_size,
                      int64_t channels);

}  // namespace xdit::models
