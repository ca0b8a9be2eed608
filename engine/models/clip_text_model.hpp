#pragma once
// CLIP's text encoder (transformers' CLIPTextModel and
// CLIPTextModelWithProjection), the pooled and penultimate-layer text
// conditioning of SD3 (two of them) and Flux (the pooled vector). Built from
// a transformers CLIPTextConfig (`model_type` clip_text_model) and the
// state_dict keys `text_model.embeddings.*`, `text_model.encoder.layers.N.*`,
// `text_model.final_layer_norm.*` and, with a projection, `text_projection`.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "io/config.hpp"
#include "io/weight_source.hpp"
#include "models/layers.hpp"

namespace xdit::models {

// The activations CLIP text checkpoints use: quick_gelu (OpenAI CLIP),
// gelu (OpenCLIP bigG), gelu_new / gelu_pytorch_tanh.
enum class ClipActivation { kQuickGelu, kGelu, kGeluTanh };

struct ClipTextConfig {
  // Defaults are transformers' CLIPTextConfig defaults (CLIP ViT-B/32).
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t projection_dim = 512;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "quick_gelu";
  int64_t eos_token_id = 49407;

  // Throws ConfigError naming the key for a malformed or unsupported value.
  static ClipTextConfig from_config(const io::Config& config);
  void validate(const std::string& source) const;
  ClipActivation activation(const std::string& source) const;
  // Configs from before transformers learnt eos_token_id (it is 2 there)
  // pool at the largest token id, which CLIP's vocabulary gives its EOS.
  bool pools_at_largest_id() const { return eos_token_id == 2; }
};

struct ClipTextOutput {
  at::Tensor last_hidden_state;  // [B, L, hidden], after the final layer norm
  at::Tensor penultimate;        // [B, L, hidden]: the second-to-last layer's output, no norm
  at::Tensor pooled;             // [B, hidden]: last_hidden_state at each row's EOS
  at::Tensor text_embeds;        // [B, projection_dim]; undefined without a projection
};

class ClipTextModel {
 public:
  // `weights`: the model's root (keys `text_model.*`, and `text_projection.weight`
  // when `with_projection`, as CLIPTextModelWithProjection holds it).
  ClipTextModel(const ClipTextConfig& config, const io::Weights& weights, bool with_projection);

  // input_ids [B, L] integer, L at most max_position_embeddings. Attention is
  // causal and sees every position, as SD3 and Flux call CLIP (no mask).
  ClipTextOutput forward(const at::Tensor& input_ids) const;

  const ClipTextConfig& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }

 private:
  struct Layer {
    LayerNorm norm1;
    Linear q, k, v, out;
    LayerNorm norm2;
    Linear fc1, fc2;
  };

  at::Tensor self_attention(const Layer& layer, const at::Tensor& x,
                            const at::Tensor& causal) const;
  at::Tensor activation(const at::Tensor& x) const;
  // The position each row pools at.
  at::Tensor eos_positions(const at::Tensor& ids) const;

  ClipTextConfig config_;
  at::ScalarType dtype_;
  at::Device device_;
  ClipActivation activation_;
  at::Tensor token_embedding_;     // [vocab_size, hidden]
  at::Tensor position_embedding_;  // [max_position_embeddings, hidden]
  std::vector<Layer> layers_;
  LayerNorm final_layer_norm_;
  Linear text_projection_;  // weight undefined without a projection
};

}  // namespace xdit::models
