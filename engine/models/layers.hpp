#pragma once
// The parameterised building blocks that every model is assembled from. Each
// holds plain tensors loaded through io::Weights (shape-checked against the
// config) and runs on plain ATen ops; none of them knows about parallelism.

#include <ATen/core/Tensor.h>

#include <string_view>

#include "io/weight_source.hpp"

namespace xdit::models {

struct Linear {
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined

  static Linear load(const io::Weights& weights, int64_t in_features, int64_t out_features,
                     bool with_bias = true);
  at::Tensor operator()(const at::Tensor& x) const;
  int64_t out_features() const { return weight.size(0); }
};

struct LayerNorm {
  at::Tensor weight;  // undefined when not elementwise-affine
  at::Tensor bias;
  int64_t dim = 0;
  double eps = 1e-5;

  static LayerNorm load(const io::Weights& weights, int64_t dim, double eps, bool affine = true,
                        bool with_bias = true);
  static LayerNorm plain(int64_t dim, double eps);  // no parameters
  at::Tensor operator()(const at::Tensor& x) const;
};

// adaLN modulation: normed * (1 + scale) + shift, in one pass over the
// tokens (addcmul) rather than two with a temporary. shift and scale
// broadcast against normed ([B, 1, D] for per-sample modulation).
at::Tensor modulate(const at::Tensor& normed, const at::Tensor& shift, const at::Tensor& scale);

// A text encoder's input_ids as it embeds them: int64 on `device`. UsageError,
// naming `model`, unless they are a non-empty [batch, length] integer tensor
// of ids in [0, vocab_size).
at::Tensor checked_token_ids(const at::Tensor& input_ids, int64_t vocab_size, at::Device device,
                             const char* model);

struct GroupNorm {
  at::Tensor weight;
  at::Tensor bias;
  int64_t groups = 32;
  double eps = 1e-6;

  static GroupNorm load(const io::Weights& weights, int64_t groups, int64_t channels, double eps);
  at::Tensor operator()(const at::Tensor& x) const;
};

struct Conv2d {
  at::Tensor weight;  // [out, in, k, k]
  at::Tensor bias;
  int64_t stride = 1;
  int64_t padding = 0;

  static Conv2d load(const io::Weights& weights, int64_t in_channels, int64_t out_channels,
                     int64_t kernel, int64_t stride = 1, int64_t padding = 0);
  at::Tensor operator()(const at::Tensor& x) const;
};

}  // namespace xdit::models
