#pragma once
// PixArtTransformer2DModel (diffusers v0.30.3) for PixArt-α and PixArt-Σ.
//
// It offers the DiT seam of models/dit.hpp: condition() (adaLN-single of the
// timestep and optional size conditions, caption projection, prompt mask
// bias), embed() (patch embedding plus the sin-cos position table of the
// rows embedded), run_blocks() (self-attention through the strategy,
// cross-attention to the caption), the output layer. An instance may hold
// only a contiguous range of blocks and optionally the input and output
// layers (a PipeFusion stage); the keys it does not hold are marked skipped.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "io/config.hpp"
#include "io/weight_source.hpp"
#include "models/attention_strategy.hpp"
#include "models/dit.hpp"
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

// Everything a step's blocks share, computed once per step by condition().
struct PixArtConditioning final : DitStep {
  at::Tensor modulation;         // [B, 6 * inner_dim]: adaLN-single for every block
  at::Tensor embedded_timestep;  // [B, inner_dim]: the output layer's shift/scale
  at::Tensor text;               // [B, L, inner_dim] (projected caption) or undefined
  at::Tensor text_bias;          // [B, 1, 1, L] additive mask bias, or undefined

  int64_t batch() const override { return modulation.size(0); }
  // The caption is cross-attended, not carried as a stream.
  int64_t text_tokens() const override { return 0; }
};

class PixArtTransformer final : public DiffusionTransformer {
 public:
  // Loads the tensors of `stage` from `weights` (the model's root view) and
  // marks the others skipped, so that `weights.expect_all_used()` afterwards
  // reports only keys that the config does not explain. The blocks hold the
  // heads and feed-forward width of `shard` (tensor parallel; the
  // conditioning, input and output layers stay whole). Throws WeightError
  // for a missing tensor or a wrong shape, UsageError for a bad stage or a
  // shard count that does not divide the heads.
  PixArtTransformer(PixArtConfig config, const io::Weights& weights, DitStage stage = {},
                    const TensorShard& shard = {});

  const PixArtConfig& config() const { return config_; }
  const DitShape& shape() const override { return shape_; }
  const DitStage& stage() const override { return stage_; }
  at::ScalarType dtype() const override { return dtype_; }
  at::Device device() const override { return device_; }
  int64_t parameter_bytes() const override { return parameter_bytes_; }

  // inputs.text: [B, L, text_channels] (undefined only for a model without
  // text); inputs.text_mask: [B, L] 0/1 keep-mask, [B, 1, L] additive bias,
  // or undefined; inputs.resolution [B, 2] and inputs.aspect_ratio [B, 1]:
  // required when the config uses additional conditions, ignored otherwise.
  // timestep: [B] or one value (int64 or float). Returns a PixArtConditioning.
  std::unique_ptr<DitStep> condition(const at::Tensor& timestep,
                                     const DitInputs& inputs) const override;
  DitHidden embed(const at::Tensor& latent, const TokenSpan& span,
                  const DitStep& step) const override;
  DitHidden run_blocks(DitHidden hidden, const TokenSpan& span, const DitStep& step,
                       AttentionStrategy& attention) const override;
  at::Tensor output_patches(const at::Tensor& image, const DitStep& step) const override;
  at::Tensor unpatchify(const at::Tensor& patches, const PatchRows& rows) const override;

  // The whole model on a whole latent, with diffusers' arguments:
  // hidden_states [B, in_channels, H, W] -> [B, out_channels, H, W].
  // `strategy` defaults to LocalAttention.
  at::Tensor forward(const at::Tensor& hidden_states, const at::Tensor& encoder_hidden_states,
                     const at::Tensor& timestep, const at::Tensor& encoder_attention_mask = {},
                     const at::Tensor& resolution = {}, const at::Tensor& aspect_ratio = {},
                     AttentionStrategy* strategy = nullptr) const;

 private:
  PixArtConfig config_;
  DitShape shape_;
  DitStage stage_;
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
