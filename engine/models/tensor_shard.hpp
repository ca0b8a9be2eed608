#pragma once
// Tensor parallelism as a model sees it (Megatron's split): a layer whose
// output features are split (column-sharded: q/k/v, the feed-forward's first
// projection) needs no communication; the layer after it takes the split
// features as input (row-sharded: the attention output, the feed-forward's
// second projection), so each shard computes a partial sum that the shards
// then add up. The model asks a PartialSums interface for that sum, so it
// never talks to processes itself.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "io/weight_source.hpp"
#include "models/layers.hpp"

namespace xdit::models {

// Completes partial sums across the shards of a layer (an all-reduce).
class PartialSums {
 public:
  virtual ~PartialSums() = default;
  // Replaces `partial` (contiguous) by the sum of every shard's `partial`.
  virtual void sum_(at::Tensor& partial) = 0;
};

// Which shard of the split dimensions (attention heads, feed-forward width)
// an instance holds. The default is the whole model.
struct TensorShard {
  int64_t index = 0;
  int64_t count = 1;
  // Required when count > 1; must outlive the model.
  PartialSums* sums = nullptr;

  bool is_split() const { return count > 1; }
  // This shard's part of `size` units of `what` ("attention heads"); throws
  // UsageError naming `what` unless count divides size.
  int64_t part(int64_t size, const std::string& what) const;

  // A Linear [out, in] holding only this shard's output features (rows of
  // the weight and of the bias).
  Linear load_column(const io::Weights& weights, int64_t in_features, int64_t out_features,
                     bool with_bias = true) const;
  // A Linear [out, in] holding only this shard's input features (columns of
  // the weight) and the whole bias.
  Linear load_row(const io::Weights& weights, int64_t in_features, int64_t out_features,
                  bool with_bias = true) const;
  // The whole output of a row-sharded layer from this shard's input
  // features: the partial products summed over the shards, the bias added
  // once. Unsplit, exactly `layer(x)`.
  at::Tensor row_forward(const Linear& layer, const at::Tensor& x) const;
};

}  // namespace xdit::models
