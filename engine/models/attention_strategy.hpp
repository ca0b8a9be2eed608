#pragma once
// The seam through which every parallel method reaches into a model's
// self-attention: a model computes q, k, v for the tokens this rank holds and
// hands them to a strategy, which may exchange them with other ranks
// (Ulysses all-to-all, Ring K/V passing, stale K/V buffers of PipeFusion and
// DistriFusion) before attending. Serial runs use LocalAttention.

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace xdit::models {

class AttentionStrategy {
 public:
  virtual ~AttentionStrategy() = default;
  // q, k, v: [B, H, L, D] for this rank's tokens. `layer` indexes the
  // transformer block, for strategies that keep per-layer state.
  virtual at::Tensor self_attention(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                    const at::Tensor& v, double scale) = 0;
};

class LocalAttention final : public AttentionStrategy {
 public:
  at::Tensor self_attention(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, double scale) override;
};

}  // namespace xdit::models
