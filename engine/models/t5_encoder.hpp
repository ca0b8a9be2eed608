#pragma once
// The encoder half of T5 (transformers' T5EncoderModel), the text encoder of
// PixArt-α/Σ, SD3 and Flux. Built from a transformers T5 config.json and the
// T5EncoderModel state_dict keys (`shared.weight` and/or
// `encoder.embed_tokens.weight`, `encoder.block.N.layer.{0,1}.*`,
// `encoder.final_layer_norm.weight`).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "io/config.hpp"
#include "io/weight_source.hpp"
#include "models/layers.hpp"

namespace xdit::models {

// The dense activations transformers' ACT2FN offers that T5 checkpoints use:
// relu (t5), gelu_new (t5 v1.1, flan-t5), gelu (erf), silu.
enum class T5Activation { kRelu, kGelu, kGeluTanh, kSilu };

struct T5Config {
  // Defaults are transformers' T5Config defaults (the original t5-small).
  int64_t vocab_size = 32128;
  int64_t d_model = 512;
  int64_t d_kv = 64;
  int64_t d_ff = 2048;
  int64_t num_layers = 6;
  int64_t num_heads = 8;
  int64_t relative_attention_num_buckets = 32;
  int64_t relative_attention_max_distance = 128;
  double layer_norm_epsilon = 1e-6;
  std::string feed_forward_proj = "relu";
  // Derived from feed_forward_proj ("gated-gelu" -> gated "gelu_new"), unless
  // config.json stores them, which transformers lets override the derivation.
  std::string dense_act_fn = "relu";
  bool is_gated_act = false;

  // Throws ConfigError naming the key for a malformed or unsupported value.
  static T5Config from_config(const io::Config& config);
  // The same checks for a config built in code; `source` names it in errors.
  void validate(const std::string& source) const;
  // dense_act_fn resolved; ConfigError when transformers names no such
  // activation or T5 checkpoints do not use it.
  T5Activation activation(const std::string& source) const;
};

// T5's RMS norm: no mean subtraction and no bias; the variance is taken in
// float32 whatever the model dtype, as transformers does for half precision.
struct T5LayerNorm {
  at::Tensor weight;
  double eps = 1e-6;

  static T5LayerNorm load(const io::Weights& weights, int64_t dim, double eps);
  at::Tensor operator()(const at::Tensor& x) const;
};

class T5Encoder {
 public:
  // `weights` is the T5EncoderModel root (keys `shared.weight`, `encoder.*`).
  // Keys under `decoder.` are skipped, as T5EncoderModel ignores them, so a
  // full T5 checkpoint loads too. Call weights.expect_all_used() afterwards to
  // catch keys that do not fit the config.
  T5Encoder(const T5Config& config, const io::Weights& weights);

  // input_ids [B, L] integer; attention_mask [B, L] of 0/1 or undefined (no
  // padding). Returns last_hidden_state [B, L, d_model] in the weights' dtype.
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask = {}) const;

  const T5Config& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  // Where its weights live; inputs are moved there.
  at::Device device() const { return device_; }

 private:
  struct Block {
    T5LayerNorm attention_norm;
    Linear q, k, v, o;
    T5LayerNorm feed_forward_norm;
    Linear wi;         // `wi`, or `wi_0` when gated: the activated projection
    Linear wi_linear;  // `wi_1`, the linear gate (gated activations only)
    Linear wo;
  };

  // The relative position bias [1, H, L, L] shared by every block.
  at::Tensor position_bias(int64_t length) const;
  at::Tensor self_attention(const Block& block, const at::Tensor& x, const at::Tensor& bias) const;
  at::Tensor feed_forward(const Block& block, const at::Tensor& x) const;
  at::Tensor activation(const at::Tensor& x) const;

  T5Config config_;
  at::ScalarType dtype_;
  at::Device device_;
  T5Activation activation_;
  at::Tensor embed_tokens_;             // [vocab_size, d_model]
  at::Tensor relative_attention_bias_;  // [num_buckets, num_heads]
  std::vector<Block> blocks_;
  T5LayerNorm final_layer_norm_;
};

// Bucket of each relative position (key - query) for bidirectional attention,
// as transformers' T5Attention._relative_position_bucket computes it.
at::Tensor t5_relative_position_bucket(const at::Tensor& relative_position, int64_t num_buckets,
                                       int64_t max_distance);

}  // namespace xdit::models
