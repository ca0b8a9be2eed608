#include "models/layers.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"

namespace xdit::models {

Linear Linear::load(const io::Weights& weights, int64_t in_features, int64_t out_features,
                    bool with_bias) {
  Linear linear;
  linear.weight = weights.get("weight", {out_features, in_features});
  if (with_bias)
    linear.bias = weights.get("bias", {out_features});
  return linear;
}

at::Tensor Linear::operator()(const at::Tensor& x) const {
  return at::linear(x, weight, bias);
}

LayerNorm LayerNorm::load(const io::Weights& weights, int64_t dim, double eps, bool affine,
                          bool with_bias) {
  LayerNorm norm = plain(dim, eps);
  if (affine) {
    norm.weight = weights.get("weight", {dim});
    if (with_bias)
      norm.bias = weights.get("bias", {dim});
  }
  return norm;
}

LayerNorm LayerNorm::plain(int64_t dim, double eps) {
  LayerNorm norm;
  norm.dim = dim;
  norm.eps = eps;
  return norm;
}

at::Tensor LayerNorm::operator()(const at::Tensor& x) const {
  return at::layer_norm(x, {dim}, weight, bias, eps);
}

GroupNorm GroupNorm::load(const io::Weights& weights, int64_t groups, int64_t channels,
                          double eps) {
  GroupNorm norm;
  norm.weight = weights.get("weight", {channels});
  norm.bias = weights.get("bias", {channels});
  norm.groups = groups;
  norm.eps = eps;
  return norm;
}

at::Tensor GroupNorm::operator()(const at::Tensor& x) const {
  return at::group_norm(x, groups, weight, bias, eps);
}

Conv2d Conv2d::load(const io::Weights& weights, int64_t in_channels, int64_t out_channels,
                    int64_t kernel, int64_t stride, int64_t padding) {
  Conv2d conv;
  conv.weight = weights.get("weight", {out_channels, in_channels, kernel, kernel});
  conv.bias = weights.get("bias", {out_channels});
  conv.stride = stride;
  conv.padding = padding;
  return conv;
}

at::Tensor Conv2d::operator()(const at::Tensor& x) const {
  return at::conv2d(x, weight, bias, {stride, stride}, {padding, padding});
}

at::Tensor modulate(const at::Tensor& normed, const at::Tensor& shift, const at::Tensor& scale) {
  return at::addcmul(shift, normed, scale + 1);
}

at::Tensor checked_token_ids(const at::Tensor& input_ids, int64_t vocab_size, at::Device device,
                             const char* model) {
  if (!input_ids.defined() || input_ids.dim() != 2 || input_ids.size(1) == 0 ||
      !at::isIntegralType(input_ids.scalar_type(), /*includeBool=*/false)) {
    throw UsageError(std::string(model) +
                     ": input_ids must be a non-empty [batch, length] integer tensor");
  }
  const at::Tensor ids = input_ids.to(device, at::kLong);
  if (ids.numel() > 0 &&
      (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= vocab_size)) {
    throw UsageError(std::string(model) + ": input_ids outside the vocabulary [0, " +
                     std::to_string(vocab_size) + ")");
  }
  return ids;
}

}  // namespace xdit::models
