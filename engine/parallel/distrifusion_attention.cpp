#include "parallel/distrifusion_attention.hpp"

#include <ATen/ATen.h>

#include "models/attention.hpp"

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

at::Tensor DistriFusionAttention::self_attention(int64_t layer, const at::Tensor& q,
                                                 const at::Tensor& k, const at::Tensor& v,
                                                 double scale) {
  if (static_cast<size_t>(layer) >= in_flight_.size())
    in_flight_.resize(static_cast<size_t>(layer) + 1);
  InFlight& arriving = in_flight_[static_cast<size_t>(layer)];
  if (arriving.keys.pending())
    cache_.assign(layer, arriving.keys.wait(), arriving.values.wait());

  at::Tensor out;
  if (synchronous_) {
    const at::Tensor keys = group_.all_gather(k, 2);
    const at::Tensor values = group_.all_gather(v, 2);
    out = models::attention(q, keys, values, at::Tensor(), scale);
    cache_.assign(layer, keys, values);  // the next step's stale K/V
  } else {
    const StaleKv kv = cache_.refresh(layer, first_, total_, k, v);
    out = models::attention(q, kv.keys, kv.values, kv.bias, scale);
  }
  if (prefetch_) {
    arriving.keys = group_.all_gather_async(k, 2);
    arriving.values = group_.all_gather_async(v, 2);
  }
  return out;
}

}  // namespace xdit::parallel
