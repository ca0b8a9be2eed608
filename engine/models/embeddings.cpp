#include "models/embeddings.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace xdit::models {
namespace {

std::string shape_of(const at::Tensor& t) {
  return c10::str(t.sizes());
}

// numpy's np.arange(extent, dtype=float32) / (extent / base_size) /
// interpolation_scale: the Python scalars are rounded to float32 and both
// divisions happen in float32.
float grid_coordinate(int64_t index, int64_t extent, int64_t base_size,
                      double interpolation_scale) {
  const auto step =
      static_cast<float>(static_cast<double>(extent) / static_cast<double>(base_size));
  return static_cast<float>(index) / step / static_cast<float>(interpolation_scale);
}

// get_1d_sincos_pos_embed_from_grid for positions [first, first + count) of an
// axis of `extent` patches: [count, dim], [sin | cos], float64 math.
at::Tensor axis_table(int64_t first, int64_t count, int64_t extent, int64_t dim, int64_t base_size,
                      double interpolation_scale) {
  const int64_t frequencies = dim / 2;
  std::vector<double> omega(frequencies);
  for (int64_t k = 0; k < frequencies; ++k) {
    omega[k] = 1.0 / std::pow(10000.0, static_cast<double>(k) / (static_cast<double>(dim) / 2.0));
  }
  at::Tensor table = at::empty({count, dim}, at::kFloat);
  float* out = table.data_ptr<float>();
  for (int64_t i = 0; i < count; ++i) {
    const double position = grid_coordinate(first + i, extent, base_size, interpolation_scale);
    for (int64_t k = 0; k < frequencies; ++k) {
      const double angle = position * omega[k];
      out[i * dim + k] = static_cast<float>(std::sin(angle));
      out[i * dim + frequencies + k] = static_cast<float>(std::cos(angle));
    }
  }
  return table;
}

}  // namespace

at::Tensor timestep_sinusoids(const at::Tensor& timesteps, int64_t channels, bool flip_sin_to_cos,
                              double downscale_freq_shift, double scale, double max_period) {
  if (timesteps.dim() != 1) {
    throw UsageError("timestep embedding expects a 1-D tensor of timesteps, got shape " +
                     shape_of(timesteps));
  }
  const int64_t half = channels / 2;
  const at::ScalarType dtype = timesteps.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  // The order of float32 operations follows diffusers, so that large
  // timesteps (up to 999) give bit-identical angles.
  at::Tensor exponent =
      at::arange(0, half, at::TensorOptions().dtype(dtype).device(timesteps.device())) *
      (-std::log(max_period));
  exponent = exponent / (static_cast<double>(half) - downscale_freq_shift);
  at::Tensor angles = timesteps.unsqueeze(1).to(dtype) * exponent.exp().unsqueeze(0);
  angles = angles * scale;
  at::Tensor emb = flip_sin_to_cos ? at::cat({angles.cos(), angles.sin()}, -1)
                                   : at::cat({angles.sin(), angles.cos()}, -1);
  if (channels % 2 == 1)
    emb = at::constant_pad_nd(emb, {0, 1});
  return emb;
}

TimestepEmbedding TimestepEmbedding::load(const io::Weights& weights, int64_t in_channels,
                                          int64_t embed_dim) {
  return {Linear::load(weights.sub("linear_1"), in_channels, embed_dim),
          Linear::load(weights.sub("linear_2"), embed_dim, embed_dim)};
}

at::Tensor TimestepEmbedding::operator()(const at::Tensor& x) const {
  return linear_2(at::silu(linear_1(x)));
}

TextProjection TextProjection::load(const io::Weights& weights, int64_t in_features,
                                    int64_t hidden_size) {
  return {Linear::load(weights.sub("linear_1"), in_features, hidden_size),
          Linear::load(weights.sub("linear_2"), hidden_size, hidden_size)};
}

at::Tensor TextProjection::operator()(const at::Tensor& caption) const {
  return linear_2(at::gelu(linear_1(caption), "tanh"));
}

CombinedTimestepSizeEmbedding CombinedTimestepSizeEmbedding::load(const io::Weights& weights,
                                                                  int64_t dim,
                                                                  bool use_additional_conditions) {
  CombinedTimestepSizeEmbedding embedding;
  embedding.timestep_embedder_ =
      TimestepEmbedding::load(weights.sub("timestep_embedder"), kSinusoidChannels, dim);
  if (use_additional_conditions) {
    if (dim % 3 != 0) {
      throw UsageError("resolution/aspect-ratio conditioning needs a width divisible by 3, got " +
                       std::to_string(dim));
    }
    embedding.resolution_embedder_ =
        TimestepEmbedding::load(weights.sub("resolution_embedder"), kSinusoidChannels, dim / 3);
    embedding.aspect_ratio_embedder_ =
        TimestepEmbedding::load(weights.sub("aspect_ratio_embedder"), kSinusoidChannels, dim / 3);
  }
  return embedding;
}

at::Tensor CombinedTimestepSizeEmbedding::operator()(const at::Tensor& timestep,
                                                     const at::Tensor& resolution,
                                                     const at::Tensor& aspect_ratio) const {
  const at::ScalarType dtype = timestep_embedder_.linear_1.weight.scalar_type();
  const auto features = [&](const at::Tensor& values) {
    // A float64 model's twin takes exact angles (timestep_sinusoids).
    const at::Tensor exact = dtype == at::kDouble ? values.to(at::kDouble) : values;
    return timestep_sinusoids(exact, kSinusoidChannels, /*flip_sin_to_cos=*/true, 0.0).to(dtype);
  };
  at::Tensor embedding = timestep_embedder_(features(timestep));
  if (!uses_additional_conditions())
    return embedding;

  const int64_t batch = timestep.size(0);
  if (!resolution.defined() || resolution.numel() != 2 * batch) {
    throw UsageError("this model is conditioned on the image size: resolution must be [" +
                     std::to_string(batch) + ", 2] (height, width), got " +
                     (resolution.defined() ? shape_of(resolution) : std::string("none")));
  }
  if (!aspect_ratio.defined() || aspect_ratio.numel() != batch) {
    throw UsageError("this model is conditioned on the image size: aspect_ratio must be [" +
                     std::to_string(batch) + ", 1], got " +
                     (aspect_ratio.defined() ? shape_of(aspect_ratio) : std::string("none")));
  }
  const at::Tensor size_embedding =
      (*resolution_embedder_)(features(resolution.flatten())).reshape({batch, -1});
  const at::Tensor ratio_embedding =
      (*aspect_ratio_embedder_)(features(aspect_ratio.flatten())).reshape({batch, -1});
  return embedding + at::cat({size_embedding, ratio_embedding}, 1);
}

AdaLayerNormSingle AdaLayerNormSingle::load(const io::Weights& weights, int64_t dim,
                                            bool use_additional_conditions) {
  AdaLayerNormSingle norm;
  norm.emb_ =
      CombinedTimestepSizeEmbedding::load(weights.sub("emb"), dim, use_additional_conditions);
  norm.linear_ = Linear::load(weights.sub("linear"), dim, 6 * dim);
  return norm;
}

AdaLayerNormSingleOutput AdaLayerNormSingle::operator()(const at::Tensor& timestep,
                                                        const at::Tensor& resolution,
                                                        const at::Tensor& aspect_ratio) const {
  at::Tensor embedded = emb_(timestep, resolution, aspect_ratio);
  at::Tensor modulation = linear_(at::silu(embedded));
  return {std::move(modulation), std::move(embedded)};
}

PatchRows PatchRows::whole(int64_t grid_height, int64_t grid_width) {
  return band(grid_height, grid_width, 0, grid_height);
}

PatchRows PatchRows::band(int64_t grid_height, int64_t grid_width, int64_t first_row,
                          int64_t num_rows) {
  if (grid_height <= 0 || grid_width <= 0 || first_row < 0 || num_rows <= 0 ||
      first_row + num_rows > grid_height) {
    throw UsageError("patch rows [" + std::to_string(first_row) + ", " +
                     std::to_string(first_row + num_rows) + ") do not lie inside a " +
                     std::to_string(grid_height) + " x " + std::to_string(grid_width) +
                     " patch grid");
  }
  return {grid_height, grid_width, first_row, num_rows};
}

at::Tensor sincos_pos_embed_2d(int64_t embed_dim, const PatchRows& rows, int64_t base_size,
                               double interpolation_scale) {
  if (embed_dim % 4 != 0) {
    throw UsageError("a 2-D sin-cos position embedding needs a width divisible by 4, got " +
                     std::to_string(embed_dim));
  }
  const int64_t half = embed_dim / 2;
  const at::Tensor columns =
      axis_table(0, rows.grid_width, rows.grid_width, half, base_size, interpolation_scale);
  const at::Tensor row_part = axis_table(rows.first_row, rows.num_rows, rows.grid_height, half,
                                         base_size, interpolation_scale);
  const std::vector<int64_t> band_shape{rows.num_rows, rows.grid_width, half};
  return at::cat(
             {columns.unsqueeze(0).expand(band_shape), row_part.unsqueeze(1).expand(band_shape)},
             -1)
      .reshape({rows.num_tokens(), embed_dim});
}

PatchEmbed PatchEmbed::load(const io::Weights& weights, int64_t in_channels, int64_t embed_dim,
                            int64_t patch_size, int64_t base_size, double interpolation_scale) {
  PatchEmbed embed;
  const io::Weights proj = weights.sub("proj");
  // A convolution with stride = kernel is a matrix product over patches.
  embed.weight_ = proj.get("weight", {embed_dim, in_channels, patch_size, patch_size})
                      .reshape({embed_dim, in_channels * patch_size * patch_size});
  embed.bias_ = proj.get("bias", {embed_dim});
  embed.in_channels_ = in_channels;
  embed.patch_size_ = patch_size;
  embed.base_size_ = base_size;
  embed.interpolation_scale_ = interpolation_scale;
  return embed;
}

PatchEmbed PatchEmbed::load_cropped(const io::Weights& weights, int64_t in_channels,
                                    int64_t embed_dim, int64_t patch_size, int64_t max_size) {
  PatchEmbed embed = load(weights, in_channels, embed_dim, patch_size, 1, 1.0);
  embed.stored_table_ = weights.get("pos_embed", {1, max_size * max_size, embed_dim})
                            .view({max_size, max_size, embed_dim});
  return embed;
}

at::Tensor PatchEmbed::position(const PatchRows& rows) const {
  if (!stored_table_.defined())
    return sincos_pos_embed_2d(weight_.size(0), rows, base_size_, interpolation_scale_);
  const int64_t max_size = stored_table_.size(0);
  if (rows.grid_height > max_size || rows.grid_width > max_size) {
    throw UsageError("a grid of " + std::to_string(rows.grid_height) + " x " +
                     std::to_string(rows.grid_width) + " patches exceeds the model's stored " +
                     "position table (pos_embed_max_size " + std::to_string(max_size) + ")");
  }
  // The crop is centred on the whole grid; the band takes its rows of it.
  const int64_t top = (max_size - rows.grid_height) / 2;
  const int64_t left = (max_size - rows.grid_width) / 2;
  return stored_table_.narrow(0, top + rows.first_row, rows.num_rows)
      .narrow(1, left, rows.grid_width)
      .reshape({rows.num_tokens(), stored_table_.size(2)});
}

at::Tensor PatchEmbed::operator()(const at::Tensor& latent, const PatchRows& rows) const {
  const int64_t p = patch_size_;
  if (latent.dim() != 4 || latent.size(1) != in_channels_ || latent.size(2) != rows.num_rows * p ||
      latent.size(3) != rows.grid_width * p) {
    throw UsageError("patch embedding expects a latent [B, " + std::to_string(in_channels_) + ", " +
                     std::to_string(rows.num_rows * p) + ", " +
                     std::to_string(rows.grid_width * p) + "], got " + shape_of(latent));
  }
  const int64_t batch = latent.size(0);
  const at::Tensor patches =
      latent.to(weight_.scalar_type())
          .reshape({batch, in_channels_, rows.num_rows, p, rows.grid_width, p})
          .permute({0, 2, 4, 1, 3, 5})
          .reshape({batch, rows.num_tokens(), in_channels_ * p * p});
  const at::Tensor tokens = at::linear(patches, weight_, bias_);
  const at::Tensor position = this->position(rows).to(latent.device());
  // diffusers adds the float32 table with type promotion, then casts back.
  return at::add(tokens, position).to(tokens.scalar_type());
}

at::Tensor unpatchify(const at::Tensor& tokens, const PatchRows& rows, int64_t patch_size,
                      int64_t channels) {
  const int64_t p = patch_size;
  if (tokens.dim() != 3 || tokens.size(1) != rows.num_tokens() ||
      tokens.size(2) != p * p * channels) {
    throw UsageError("unpatchify expects tokens [B, " + std::to_string(rows.num_tokens()) + ", " +
                     std::to_string(p * p * channels) + "], got " + shape_of(tokens));
  }
  return tokens.reshape({tokens.size(0), rows.num_rows, rows.grid_width, p, p, channels})
      .permute({0, 5, 1, 3, 2, 4})
      .reshape({tokens.size(0), channels, rows.num_rows * p, rows.grid_width * p});
}

}  // namespace xdit::models
