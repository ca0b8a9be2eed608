#include "models/layers.hpp"

#include <ATen/ATen.h>

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

}  // namespace xdit::models
