#pragma once
// SD3's MMDiT (diffusers SD3Transformer2DModel, v0.30.3): image and text
// tokens each with their own weights, attending jointly in every block
// (image tokens first, then text), conditioned on the timestep and the
// pooled text vector. The position table is the centre crop of a stored one,
// so any resolution up to pos_embed_max_size patches works; the last block
// updates only the image tokens (context_pre_only). Built from the
// transformer's config.json and state_dict keys.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "io/config.hpp"
#include "io/weight_source.hpp"
#include "models/embeddings.hpp"
#include "models/joint_block.hpp"
#include "models/layers.hpp"

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

  // ConfigError naming the key for a malformed value, and for SD3.5's
  // qk_norm and dual_attention_layers, which this model does not have yet.
  static SD3Config from_config(const io::Config& config);
  void validate(const std::string& source) const;
  int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
};

class SD3Transformer {
 public:
  SD3Transformer(const SD3Config& config, const io::Weights& weights);

  // hidden_states [B, in_channels, H, W] (H, W multiples of patch_size);
  // encoder_hidden_states [B, L, joint_attention_dim]; pooled_projections
  // [B, pooled_projection_dim]; timestep [B] (sigma * 1000). Returns
  // [B, out_channels, H, W] in the weights' dtype.
  at::Tensor forward(const at::Tensor& hidden_states, const at::Tensor& encoder_hidden_states,
                     const at::Tensor& pooled_projections, const at::Tensor& timestep) const;

  const SD3Config& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }

 private:
  SD3Config config_;
  at::ScalarType dtype_;
  at::Device device_;
  PatchEmbed pos_embed_;
  TimestepEmbedding timestep_embedder_;
  TimestepEmbedding text_embedder_;  // Linear -> SiLU -> Linear, as the timestep's
  Linear context_embedder_;
  std::vector<JointBlock> blocks_;
  Linear norm_out_;  // continuous adaLN: scale, shift
  Linear proj_out_;
};

}  // namespace xdit::models
