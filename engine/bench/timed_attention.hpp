#pragma once
// An attention strategy that times another one: how much of a transformer
// step its attention takes (with a parallel strategy, communication
// included).

#include "models/attention_strategy.hpp"

namespace xdit::bench {

class TimedAttention final : public models::AttentionStrategy {
 public:
  explicit TimedAttention(models::AttentionStrategy& inner) : inner_(inner) {}

  models::JointOutput attend(int64_t layer, const models::Qkv& image, const models::Qkv& text,
                             models::JointOrder order, double scale) override;

  // Wall seconds spent in attention since construction or reset().
  double seconds() const { return seconds_; }
  void reset() { seconds_ = 0; }

 private:
  models::AttentionStrategy& inner_;
  double seconds_ = 0;
};

}  // namespace xdit::bench
