#pragma once
// DistriFusion's self-attention (Li et al., "DistriFusion: Distributed
// Parallel Inference for High-Resolution Diffusion Models", 2024). Each rank
// of the group computes one displaced patch of the image; its queries attend
// to the keys and values of the whole image. In a synchronous (warm-up) step
// the patches' fresh K/V are all-gathered before attending, which is exact.
// In a stale step the other patches' K/V are those of the previous step:
// their all-gather was started right after they were computed, one step
// ahead, so that it travels while the rest of that step and the next step's
// earlier layers compute, and only the rank's own slice is fresh.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "models/attention_strategy.hpp"
#include "parallel/group.hpp"
#include "parallel/stale_kv_cache.hpp"

namespace xdit::parallel {

class DistriFusionAttention final : public models::AttentionStrategy {
 public:
  // `group`: the ranks that split the image, patch i on member i; it must
  // outlive the strategy.
  explicit DistriFusionAttention(Group& group) : group_(group) {}

  // Before each step's blocks. `first`/`total`: the tokens this rank holds
  // and the image's token count. `synchronous`: attend to fresh K/V (a
  // warm-up step), whose gathered K/V also serve the next step.
  // `next_is_stale`: in a stale step, start the all-gather that the next
  // step will attend to (false on the last step and before a synchronous
  // one, which gathers for itself).
  void begin_step(int64_t first, int64_t total, bool synchronous, bool next_is_stale);
  // Between generations: drops the buffers and completes gathers in flight.
  void reset();

  // Only the image's keys and values are gathered and kept; an MMDiT's
  // text tokens, which every rank holds, join them fresh.
  models::JointOutput attend(int64_t layer, const models::Qkv& image, const models::Qkv& text,
                             models::JointOrder order, double scale) override;

 private:
  // The K/V of a layer gathered in the previous step, arriving.
  struct InFlight {
    PendingOp keys;
    PendingOp values;
  };

  Group& group_;
  StaleKvCache cache_;
  std::vector<InFlight> in_flight_;  // by layer
  int64_t first_ = 0;
  int64_t total_ = 0;
  bool synchronous_ = true;
  bool prefetch_ = false;  // gather this step's K/V for the next
};

}  // namespace xdit::parallel
