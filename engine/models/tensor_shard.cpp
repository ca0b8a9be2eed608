#include "models/tensor_shard.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"

namespace xdit::models {

int64_t TensorShard::part(int64_t size, const std::string& what) const {
  if (count < 1 || index < 0 || index >= count) {
    throw UsageError("tensor shard " + std::to_string(index) + " of " + std::to_string(count) +
                     " does not exist");
  }
  if (size % count != 0) {
    throw UsageError("tensor parallel degree " + std::to_string(count) + " does not divide the " +
                     std::to_string(size) + " " + what);
  }
  if (count > 1 && sums == nullptr) {
    throw UsageError("a model split over " + std::to_string(count) +
                     " tensor shards needs a way to sum their partial results");
  }
  return size / count;
}

Linear TensorShard::load_column(const io::Weights& weights, int64_t in_features,
                                int64_t out_features, bool with_bias) const {
  if (!is_split())
    return Linear::load(weights, in_features, out_features, with_bias);
  part(out_features, "output features of " + weights.prefix() + "weight");
  Linear linear;
  linear.weight = weights.get_shard("weight", {out_features, in_features}, 0, index, count);
  if (with_bias)
    linear.bias = weights.get_shard("bias", {out_features}, 0, index, count);
  return linear;
}

Linear TensorShard::load_row(const io::Weights& weights, int64_t in_features, int64_t out_features,
                             bool with_bias) const {
  if (!is_split())
    return Linear::load(weights, in_features, out_features, with_bias);
  part(in_features, "input features of " + weights.prefix() + "weight");
  Linear linear;
  linear.weight = weights.get_shard("weight", {out_features, in_features}, 1, index, count);
  if (with_bias)
    linear.bias = weights.get("bias", {out_features});
  return linear;
}

at::Tensor TensorShard::row_forward(const Linear& layer, const at::Tensor& x) const {
  if (!is_split())
    return layer(x);
  at::Tensor partial = at::linear(x, layer.weight).contiguous();
  sums->sum_(partial);
  return layer.bias.defined() ? partial.add_(layer.bias) : partial;
}

}  // namespace xdit::models
