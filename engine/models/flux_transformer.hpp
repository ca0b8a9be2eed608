#pragma once
// Flux.1's transformer (diffusers FluxTransformer2DModel, v0.30.3):
// double-stream blocks (models/joint_block, text tokens first, RMS-normalised
// queries and keys), then single-stream blocks over [text, image] with
// attention and MLP side by side, rotary positions from each token's ids
// (0, row, column of the packed grid; zeros for text), and conditioning on
// the timestep, the pooled CLIP vector and (dev) the guidance scale.
//
// Behind the DiT seam (models/dit.hpp) the model takes the VAE's latent
// itself: embed() packs each 2 × 2 patch into a token as diffusers' pipeline
// does (_pack_latents) and unpatchify() unpacks, so that a rank or a patch
// holds a band of the latent like any DiT. Its list of layers is the double
// blocks followed by the single blocks. The single blocks keep the image and
// the text tokens apart (they meet only in attention), which gives every
// block the same DitHidden.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/config.hpp"
#include "io/weight_source.hpp"
#include "models/dit.hpp"
#include "models/embeddings.hpp"
#include "models/joint_block.hpp"
#include "models/layers.hpp"
#include "models/tensor_shard.hpp"

namespace xdit::models {

struct FluxConfig {
  // diffusers' defaults (Flux.1 dev and schnell).
  int64_t patch_size = 1;
  int64_t in_channels = 64;
  int64_t out_channels = 64;  // config null -> in_channels
  int64_t num_layers = 19;
  int64_t num_single_layers = 38;
  int64_t attention_head_dim = 128;
  int64_t num_attention_heads = 24;
  int64_t joint_attention_dim = 4096;
  int64_t pooled_projection_dim = 768;
  bool guidance_embeds = false;
  std::vector<int64_t> axes_dims_rope = {16, 56, 56};

  static FluxConfig from_config(const io::Config& config);
  void validate(const std::string& source) const;
  int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
};

// What Flux's blocks share in a step.
struct FluxStep final : DitStep {
  at::Tensor conditioning;  // [B, dim]: timestep (+ guidance) + pooled text
  at::Tensor text;          // [B, L, dim]: the context embedder's output (first stage)
  at::Tensor text_rope;     // the text tokens' rotary table
  int64_t text_length = 0;

  int64_t batch() const override { return conditioning.size(0); }
  int64_t text_tokens() const override { return text_length; }
};

// Flux's single-stream block: one adaLN (shift, scale, gate), attention and a
// GELU MLP side by side on the same normed tokens, one output projection of
// both. Image and text tokens go through it apart, meeting in attention.
class FluxSingleBlock {
 public:
  FluxSingleBlock(const io::Weights& weights, const JointBlockShape& shape, int64_t layer);
  void operator()(at::Tensor& image, at::Tensor& text, const at::Tensor& conditioning,
                  const JointRope& rope, AttentionStrategy& attention) const;

 private:
  // proj_out([attention | MLP]) of one kind of token: attended [B, H, L, D],
  // normed [B, L, dim].
  at::Tensor project_out(const at::Tensor& attended, const at::Tensor& normed) const;

  JointBlockShape shape_;
  int64_t layer_;
  Linear modulation_;
  HeadProjections heads_;
  Linear proj_mlp_;
  Linear proj_out_;       // whole, [dim, 5 dim]; split over shards, its two parts:
  Linear out_attention_;  // the columns of this shard's heads
  Linear out_mlp_;        // the columns of this shard's MLP width, and the bias
};

class FluxTransformer final : public DiffusionTransformer {
 public:
  FluxTransformer(const FluxConfig& config, const io::Weights& weights, DitStage stage = {},
                  const TensorShard& shard = {});

  const FluxConfig& config() const { return config_; }
  const DitShape& shape() const override { return shape_; }
  const DitStage& stage() const override { return stage_; }
  at::ScalarType dtype() const override { return dtype_; }
  at::Device device() const override { return device_; }
  int64_t parameter_bytes() const override { return parameter_bytes_; }

  // inputs.text [B, L, joint_attention_dim], inputs.pooled_text [B,
  // pooled_projection_dim], inputs.guidance [B] exactly when the model is
  // guidance-distilled; timestep as the scheduler gives it (sigma * 1000).
  std::unique_ptr<DitStep> condition(const at::Tensor& timestep,
                                     const DitInputs& inputs) const override;
  DitHidden embed(const at::Tensor& latent, const TokenSpan& span,
                  const DitStep& step) const override;
  DitHidden run_blocks(DitHidden hidden, const TokenSpan& span, const DitStep& step,
                       AttentionStrategy& attention) const override;
  at::Tensor output_patches(const at::Tensor& image, const DitStep& step) const override;
  at::Tensor unpatchify(const at::Tensor& patches, const PatchRows& rows) const override;

  // diffusers' forward on packed latents: hidden_states [B, N, in_channels];
  // encoder_hidden_states [B, L, joint_attention_dim]; pooled_projections
  // [B, pooled_projection_dim]; timestep [B] (sigma, in [0, 1]); img_ids
  // [B, N, 3] and txt_ids [B, L, 3]; guidance [B] (the scale, e.g. 3.5),
  // required exactly when the model has a guidance embedder. Returns
  // [B, N, out_channels] in the weights' dtype.
  at::Tensor forward(const at::Tensor& hidden_states, const at::Tensor& encoder_hidden_states,
                     const at::Tensor& pooled_projections, const at::Tensor& timestep,
                     const at::Tensor& img_ids, const at::Tensor& txt_ids,
                     const at::Tensor& guidance = {}) const;

 private:
  // condition() with the timestep in the model's own units (sigma).
  std::unique_ptr<FluxStep> condition_sigma(const at::Tensor& sigma, const DitInputs& inputs) const;
  // The stage's layers with the rotary tables of the tokens held.
  void run_layers(DitHidden& hidden, const FluxStep& step, const JointRope& rope,
                  AttentionStrategy& attention) const;
  at::Tensor rope_of(const at::Tensor& ids) const;

  FluxConfig config_;
  DitShape shape_;
  DitStage stage_;
  at::ScalarType dtype_;
  at::Device device_;
  TimestepEmbedding timestep_embedder_;
  std::optional<TimestepEmbedding> guidance_embedder_;
  TimestepEmbedding text_embedder_;         // Linear -> SiLU -> Linear
  std::optional<Linear> context_embedder_;  // the first stage
  std::optional<Linear> x_embedder_;        // the first stage
  std::vector<JointBlock> double_blocks_;   // the stage's
  std::vector<FluxSingleBlock> single_blocks_;
  std::optional<ContinuousAdaNorm> norm_out_;  // the last stage
  std::optional<Linear> proj_out_;
  int64_t parameter_bytes_ = 0;
};

}  // namespace xdit::models
