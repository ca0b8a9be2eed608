#pragma once
// Flux.1's transformer (diffusers FluxTransformer2DModel, v0.30.3): latents
// packed 2 x 2 into tokens by the pipeline, double-stream blocks (models/
// joint_block, text tokens first, RMS-normalised queries and keys), then
// single-stream blocks over [text, image] with attention and MLP side by
// side, rotary positions from each token's ids, and conditioning on the
// timestep, the pooled CLIP vector and (dev) the guidance scale.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/config.hpp"
#include "io/weight_source.hpp"
#include "models/embeddings.hpp"
#include "models/joint_block.hpp"
#include "models/layers.hpp"

namespace xdit::models {

struct FluxConfig {
  // diffusers' defaults (Flux.1 dev and schnell).
  int64_t patch_size = 1;
  int64_t in_channels = 64;
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

class FluxTransformer {
 public:
  FluxTransformer(const FluxConfig& config, const io::Weights& weights);

  // hidden_states [B, N, in_channels] (packed latents); encoder_hidden_states
  // [B, L, joint_attention_dim]; pooled_projections [B, pooled_projection_dim];
  // timestep [B] (sigma, in [0, 1]); img_ids [B, N, 3] and txt_ids [B, L, 3];
  // guidance [B] (the scale, e.g. 3.5), required exactly when the model has
  // a guidance embedder. Returns [B, N, in_channels] in the weights' dtype.
  at::Tensor forward(const at::Tensor& hidden_states, const at::Tensor& encoder_hidden_states,
                     const at::Tensor& pooled_projections, const at::Tensor& timestep,
                     const at::Tensor& img_ids, const at::Tensor& txt_ids,
                     const at::Tensor& guidance = {}) const;

  const FluxConfig& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }

 private:
  struct SingleBlock {
    Linear modulation;  // shift, scale, gate
    Linear q, k, v;
    RmsNorm norm_q, norm_k;
    Linear proj_mlp;
    Linear proj_out;  // [attention | MLP] -> dim
  };

  at::Tensor run_single(const SingleBlock& block, const at::Tensor& x,
                        const at::Tensor& conditioning, const at::Tensor& rope) const;

  FluxConfig config_;
  at::ScalarType dtype_;
  at::Device device_;
  TimestepEmbedding timestep_embedder_;
  std::optional<TimestepEmbedding> guidance_embedder_;
  TimestepEmbedding text_embedder_;  // Linear -> SiLU -> Linear
  Linear context_embedder_;
  Linear x_embedder_;
  std::vector<JointBlock> double_blocks_;
  std::vector<SingleBlock> single_blocks_;
  Linear norm_out_;  // continuous adaLN: scale, shift
  Linear proj_out_;
};

}  // namespace xdit::models
