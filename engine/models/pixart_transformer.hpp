#pragma once
// PixArtTransformer2DModel (diffusers v0.30.3) for PixArt-α and PixArt-Σ.
//
// The model is exposed in pieces so that parallel runners can schedule them:
//   condition()  once per step: adaLN-single (timestep, optional size
//                conditions), caption projection, prompt mask bias;
//   embed()      latent pixels of a band of patch rows -> tokens (+ position);
//   run_block()  one transformer block on any band of tokens, self-attention
//                through an AttentionStrategy;
//   finish()     output norm, scale/shift, proj_out and unpatchify of a band.
// forward() composes them for a whole image. An instance may hold only a
// contiguous range of blocks and optionally the input and output layers
// (a PipeFusion stage); the keys it does not hold are marked skipped.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "io/config.hpp"
#include "io/weight_source.hpp"
#include "models/attention_strategy.hpp"
#include "models/embeddings.hpp"
#include "models/layers.hpp"
#include "models/tensor_shard.hpp"
#include "models/transformer_block.hpp"

namespace xdit::models {

struct PixArtConfig {
  int64_t num_attention_heads = 16;
  int64_t attention_head_dim = 72;
  int64_t in_channels = 4;
  int64_t out_channels = 8;  // config null -> in_channels
  int64_t num_layers = 28;
  std::optional<int64_t> cross_attention_dim = 1152;  // null: no cross-attention
  bool attention_bias = true;
  int64_t sample_size = 128;
  int64_t patch_size = 2;
  FeedForwardActivation activation_fn = FeedForwardActivation::kGeluTanh;
  int64_t num_embeds_ada_norm = 1000;
  // Only changes diffusers' non-SDPA attention path; the SDPA math (which the
  // reference and this engine compute) is the same either way.
  bool upcast_attention = false;
  bool norm_elementwise_affine = false;
  double norm_eps = 1e-6;
  double interpolation_scale = 2.0;         // config null -> max(sample_size / 64, 1)
  bool use_additional_conditions = true;    // config null -> sample_size == 128
  std::optional<int64_t> caption_channels;  // null: text is used unprojected

  // Reads a diffusers config.json with diffusers' defaults for missing keys;
  // throws ConfigError naming the key for anything the model cannot be.
  static PixArtConfig from_config(const io::Config& config);

  int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
  // The patch grid the position embedding is scaled to (sample_size / p).
  int64_t base_size() const { return sample_size / patch_size; }
  // Channels of encoder_hidden_states; unset when the model takes no text.
  std::optional<int64_t> text_channels() const;
};

// The part of the model an instance holds: blocks [first_layer, last_layer)
// (last_layer unset = num_layers), the patch embedding (the first stage) and
// the output layer (the last stage). The conditioning (adaln_single,
// caption_projection) is held by every part, since every block needs it.
struct PixArtStage {
  int64_t first_layer = 0;
  std::optional<int64_t> last_layer;
  bool embeds_input = true;
  bool owns_output = true;
};

// Everything a step's blocks share, computed once per step by condition().
struct PixArtConditioning {
  at::Tensor modulation;         // [B, 6 * inner_dim]: adaLN-single for every block
  at::Tensor embedded_timestep;  // [B, inner_dim]: the output layer's shift/scale
  at::Tensor text;               // [B, L, inner_dim] (projected caption) or undefined
  at::Tensor text_bias;          // [B, 1, 1, L] additive mask bias, or undefined
};

class PixArtTransformer {
 public:
  // Loads the tensors of `stage` from `weights` (the model's root view) and
  // marks the others skipped, so that `weights.expect_all_used()` afterwards
  // reports only keys that the config does not explain. The blocks hold the
  // heads and feed-forward width of `shard` (tensor parallel; the
  // conditioning, input and output layers stay whole). Throws WeightError
  // for a missing tensor or a wrong shape, UsageError for a bad stage or a
  // shard count that does not divide the heads.
  PixArtTransformer(PixArtConfig config, const io::Weights& weights, PixArtStage stage = {},
                    const TensorShard& shard = {});

  const PixArtConfig& config() const { return config_; }
  // The stage held, with last_layer resolved.
  const PixArtStage& stage() const { return stage_; }
  at::ScalarType dtype() const { return dtype_; }
  // Where its weights live; inputs are moved there.
  at::Device device() const { return device_; }
  bool holds_whole_model() const;
  // Bytes of the tensors this instance holds (its stage and tensor shard):
  // the transformer's share of a rank's memory in the reports.
  int64_t parameter_bytes() const { return parameter_bytes_; }

  // The patch grid of a latent [.., latent_height, latent_width]; throws
  // UsageError unless both are multiples of patch_size.
  PatchRows patch_grid(int64_t latent_height, int64_t latent_width) const;

  // timestep: [B] or a single value (int64 or float); encoder_hidden_states:
  // [B, L, text_channels] (undefined only for a model without text);
  // encoder_attention_mask: [B, L] 0/1 keep-mask, [B, 1, L] additive bias, or
  // undefined; resolution [B, 2] and aspect_ratio [B, 1]: required when the
  // config uses additional conditions, ignored otherwise.
  PixArtConditioning condition(const at::Tensor& timestep, const at::Tensor& encoder_hidden_states,
                               const at::Tensor& encoder_attention_mask = {},
                               const at::Tensor& resolution = {},
                               const at::Tensor& aspect_ratio = {}) const;

  // latent: [B, in_channels, rows.num_rows * p, rows.grid_width * p], the
  // band `rows` of the latent. Returns tokens [B, rows.num_tokens(), inner_dim].
  // Needs stage().embeds_input.
  at::Tensor embed(const at::Tensor& latent, const PatchRows& rows) const;

  // Block `layer` (a global index inside the stage) on tokens [B, N, inner_dim].
  at::Tensor run_block(int64_t layer, const at::Tensor& tokens,
                       const PixArtConditioning& conditioning, AttentionStrategy& strategy) const;
  // Every block of the stage in order.
  at::Tensor run_blocks(const at::Tensor& tokens, const PixArtConditioning& conditioning,
                        AttentionStrategy& strategy) const;

  // tokens of the band `rows` -> [B, out_channels, rows.num_rows * p,
  // rows.grid_width * p]. Needs stage().owns_output.
  at::Tensor finish(const at::Tensor& tokens, const PixArtConditioning& conditioning,
                    const PatchRows& rows) const;
  // finish() before the unpatchify, for any run of tokens (not only whole
  // rows): tokens [B, N, inner_dim] -> patches [B, N, p * p * out_channels],
  // which models::unpatchify turns into pixels once the rows are complete.
  at::Tensor output_patches(const at::Tensor& tokens, const PixArtConditioning& conditioning) const;

  // The whole model on a whole latent: hidden_states [B, in_channels, H, W]
  // -> [B, out_channels, H, W]. `strategy` defaults to LocalAttention.
  at::Tensor forward(const at::Tensor& hidden_states, const at::Tensor& encoder_hidden_states,
                     const at::Tensor& timestep, const at::Tensor& encoder_attention_mask = {},
                     const at::Tensor& resolution = {}, const at::Tensor& aspect_ratio = {},
                     AttentionStrategy* strategy = nullptr) const;

 private:
  PixArtConfig config_;
  PixArtStage stage_;
  at::ScalarType dtype_;
  at::Device device_;
  AdaLayerNormSingle adaln_single_;
  std::optional<TextProjection> caption_projection_;
  std::optional<PatchEmbed> pos_embed_;
  std::vector<BasicTransformerBlock> blocks_;  // layers [first_layer, last_layer)
  LayerNorm norm_out_;
  at::Tensor scale_shift_table_;  // [2, inner_dim] when owning the output
  std::optional<Linear> proj_out_;
  int64_t parameter_bytes_ = 0;
};

}  // namespace xdit::models
