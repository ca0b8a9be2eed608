#pragma once
// SD3's MMDiT (diffusers SD3Transformer2DModel; SD3.5's additions as in
// diffusers 0.35): image and text tokens each with their own weights,
// attending jointly in every block (image tokens first, then text),
// conditioned on the timestep and the pooled text vector. The position table
// is the centre crop of a stored one, so any resolution up to
// pos_embed_max_size patches works; the last block updates only the image
// tokens (context_pre_only). SD3.5 adds RMS-normalised queries and keys
// (qk_norm "rms_norm") and, in the blocks of dual_attention_layers, a second
// image-only self-attention. Built from the transformer's config.json and
// state_dict keys, behind the DiT seam of models/dit.hpp.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "io/config.hpp"
#include "io/weight_source.hpp"
#include "models/dit.hpp"
#include "models/embeddings.hpp"
#include "models/joint_block.hpp"
#include "models/layers.hpp"
#include "models/tensor_shard.hpp"

namespace xdit::models {

struct SD3Config {
  // diffusers' defaults (SD3 medium).
  int64_t sample_size = 128;
  int64_t patch_size = 2;
  int64_t in_channels = 16;
  int64_t num_layers = 18;
  int64_t attention_head_dim = 64;
  int64_t num_attention_heads = 18;
  int64_t joint_attention_dim = 4096;
  int64_t caption_projection_dim = 1152;
  int64_t pooled_projection_dim = 2048;
  int64_t out_channels = 16;
  int64_t pos_embed_max_size = 96;
  bool qk_norm = false;                        // config "rms_norm" (SD3.5)
  std::vector<int64_t> dual_attention_layers;  // SD3.5 medium

  // ConfigError naming the key for a malformed value.
  static SD3Config from_config(const io::Config& config);
  void validate(const std::string& source) const;
  int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
  bool has_dual_attention(int64_t layer) const;
};

// What SD3's blocks share in a step.
struct SD3Step final : DitStep {
  at::Tensor conditioning;  // [B, dim]: timestep + pooled text embeddings
  at::Tensor text;          // [B, L, dim]: the context embedder's output (first stage)
  int64_t text_length = 0;

  int64_t batch() const override { return conditioning.size(0); }
  int64_t text_tokens() const override { return text_length; }
};

class SD3Transformer final : public DiffusionTransformer {
 public:
  // Loads `stage` of the model (the keys outside it are marked skipped),
  // its blocks holding the heads and MLP width of `shard`.
  SD3Transformer(const SD3Config& config, const io::Weights& weights, DitStage stage = {},
                 const TensorShard& shard = {});

  const SD3Config& config() const { return config_; }
  const DitShape& shape() const override { return shape_; }
  const DitStage& stage() const override { return stage_; }
  at::ScalarType dtype() const override { return dtype_; }
  at::Device device() const override { return device_; }
  int64_t parameter_bytes() const override { return parameter_bytes_; }

  // inputs.text [B, L, joint_attention_dim], inputs.pooled_text [B,
  // pooled_projection_dim]; timestep: one value or B (sigma * 1000).
  std::unique_ptr<DitStep> condition(const at::Tensor& timestep,
                                     const DitInputs& inputs) const override;
  DitHidden embed(const at::Tensor& latent, const TokenSpan& span,
                  const DitStep& step) const override;
  DitHidden run_blocks(DitHidden hidden, const TokenSpan& span, const DitStep& step,
                       AttentionStrategy& attention) const override;
  at::Tensor output_patches(const at::Tensor& image, const DitStep& step) const override;
  at::Tensor unpatchify(const at::Tensor& patches, const PatchRows& rows) const override;

  // diffusers' forward on a whole latent: hidden_states [B, in_channels, H,
  // W] -> [B, out_channels, H, W] in the weights' dtype.
  at::Tensor forward(const at::Tensor& hidden_states, const at::Tensor& encoder_hidden_states,
                     const at::Tensor& pooled_projections, const at::Tensor& timestep) const;

 private:
  SD3Config config_;
  DitShape shape_;
  DitStage stage_;
  at::ScalarType dtype_;
  at::Device device_;
  std::optional<PatchEmbed> pos_embed_;     // the first stage
  std::optional<Linear> context_embedder_;  // the first stage
  TimestepEmbedding timestep_embedder_;
  TimestepEmbedding text_embedder_;            // Linear -> SiLU -> Linear, as the timestep's
  std::vector<JointBlock> blocks_;             // the stage's
  std::optional<ContinuousAdaNorm> norm_out_;  // the last stage
  std::optional<Linear> proj_out_;
  int64_t parameter_bytes_ = 0;
};

}  // namespace xdit::models
