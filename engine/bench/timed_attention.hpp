#pragma once
// An attention strategy that times another one: how much of a transformer
// step its self-attention takes (with a parallel strategy, communication
// included).

#include "models/attention_strategy.hpp"

namespace xdit::bench {

class TimedAttention final : public models::AttentionStrategy {
 public:
  explicit TimedAttention(models::AttentionStrategy& inner) : inner_(inner) {}

  at::Tensor self_attention(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, double scale) override;

  // Wall seconds spent in self_attention since construction or reset().
  double seconds() const { return seconds_; }
  void reset() { seconds_ = 0; }

 private:
  models::AttentionStrategy& inner_;
  double seconds_ = 0;
};

}  // namespace xdit::bench
