#pragma once
// The stale activations of PipeFusion and DistriFusion: every self-attention
// layer keeps the keys and values of the whole image sequence, and a rank
// refreshes only the slice of the tokens it computes now. The rest of the
// sequence is what earlier patches of this step, or the previous step (or
// another rank, for DistriFusion), left there. Attending a patch's queries to
// the whole buffer is what lets a patch see the image around it without the
// other patches' fresh activations, at the price of their staleness.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "models/attention_strategy.hpp"

namespace xdit::parallel {

// A layer's whole-sequence keys and values as attention should see them.
struct StaleKv {
  at::Tensor keys;    // [B, H, total, D]
  at::Tensor values;  // [B, H, total, Dv]
  // [1, 1, 1, total] float32, -inf at tokens never written (no warm-up step
  // filled them yet); undefined once every token has been written.
  at::Tensor bias;
};

class StaleKvCache {
 public:
  // Writes k, v [B, H, n, D] as tokens [first, first + n) of `layer`'s
  // sequence of `total` tokens (allocated on the layer's first write) and
  // returns the whole sequence: fresh where written, stale elsewhere.
  // UsageError when the slice does not fit the layer's buffer.
  StaleKv refresh(int64_t layer, int64_t first, int64_t total, const at::Tensor& k,
                  const at::Tensor& v);
  // Replaces `layer`'s whole sequence by keys and values [B, H, total, D]
  // gathered elsewhere (held, not copied).
  void assign(int64_t layer, at::Tensor keys, at::Tensor values);
  // Forgets every layer: the next generation starts with empty buffers.
  void clear() { layers_.clear(); }
  // Bytes held by the buffers (for the memory reports).
  int64_t bytes() const;

 private:
  struct Layer {
    at::Tensor keys;
    at::Tensor values;
    at::Tensor unwritten;  // bool [total], true until a token is written
    bool complete = false;
  };

  Layer& layer_at(int64_t layer);

  std::vector<Layer> layers_;  // indexed by the transformer's layer number
};

// Self-attention of this rank's fresh tokens over a StaleKvCache: the
// strategy of a rank that computes one patch of the image at a time.
class StaleKvAttention final : public models::AttentionStrategy {
 public:
  // `cache` must outlive the strategy.
  explicit StaleKvAttention(StaleKvCache& cache) : cache_(cache) {}

  // The tokens [first, first + n) of a sequence of `total` that the next
  // calls' q, k, v hold.
  void set_tokens(int64_t first, int64_t total) {
    first_ = first;
    total_ = total;
  }

  // The image's keys and values go through the cache; the text's (an
  // MMDiT's, computed afresh with every patch) join them as they are.
  models::JointOutput attend(int64_t layer, const models::Qkv& image, const models::Qkv& text,
                             models::JointOrder order, double scale) override;

 private:
  StaleKvCache& cache_;
  int64_t first_ = 0;
  int64_t total_ = 0;
};

}  // namespace xdit::parallel
