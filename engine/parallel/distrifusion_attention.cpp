#include "parallel/distrifusion_attention.hpp"

#include <ATen/ATen.h>

namespace xdit::parallel {

void DistriFusionAttention::begin_step(int64_t first, int64_t total, bool synchronous,
                                       bool next_is_stale) {
  first_ = first;
  total_ = total;
  synchronous_ = synchronous;
  prefetch_ = !synchronous && next_is_stale;
}

void DistriFusionAttention::reset() {
  in_flight_.clear();  // each PendingOp completes its gather as it goes
  cache_.clear();
}

models::JointOutput DistriFusionAttention::attend(int64_t layer, const models::Qkv& image,
                                                  const models::Qkv& text, models::JointOrder order,
                                                  double scale) {
  if (static_cast<size_t>(layer) >= in_flight_.size())
    in_flight_.resize(static_cast<size_t>(layer) + 1);
  InFlight& arriving = in_flight_[static_cast<size_t>(layer)];
  if (arriving.keys.pending())
    cache_.assign(layer, arriving.keys.wait(), arriving.values.wait());

  models::JointOutput out;
  if (synchronous_) {
    const at::Tensor keys = group_.all_gather(image.k, 2);
    const at::Tensor values = group_.all_gather(image.v, 2);
    out = models::attend_joined(image.q, keys, values, at::Tensor(), text, order, scale);
    cache_.assign(layer, keys, values);  // the next step's stale K/V
  } else {
    const StaleKv kv = cache_.refresh(layer, first_, total_, image.k, image.v);
    out = models::attend_joined(image.q, kv.keys, kv.values, kv.bias, text, order, scale);
  }
  if (prefetch_) {
    arriving.keys = group_.all_gather_async(image.k, 2);
    arriving.values = group_.all_gather_async(image.v, 2);
  }
  return out;
}

}  // namespace xdit::parallel
