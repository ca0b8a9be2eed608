#include "parallel/usp_attention.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"
#include "parallel/ring_attention.hpp"

namespace xdit::parallel {

UspAttention::UspAttention(Group& ulysses, Group& ring, models::AttentionStrategy* inner)
    : ulysses_(ulysses), ring_(ring), inner_(inner) {
  if (inner_ != nullptr && ring.size() > 1)
    throw UsageError("a Ulysses exchange around another attention needs a ring of one");
}

at::Tensor UspAttention::attend(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                const at::Tensor& v, double scale) {
  return inner_ ? inner_->self_attention(layer, q, k, v, scale)
                : ring_attention(ring_, q, k, v, scale);
}

at::Tensor UspAttention::self_attention(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                        const at::Tensor& v, double scale) {
  if (ulysses_.size() == 1)
    return attend(layer, q, k, v, scale);
  if (q.size(1) % ulysses_.size() != 0) {
    throw UsageError("ulysses degree " + std::to_string(ulysses_.size()) + " does not divide the " +
                     std::to_string(q.size(1)) + " attention heads of layer " +
                     std::to_string(layer));
  }
  // [3, B, H, L, D] -> [3, B, H / U, L * U, D]: q, k and v in one exchange.
  const at::Tensor qkv = ulysses_.all_to_all(at::stack({q, k, v}), 2, 3);
  const at::Tensor out = attend(layer, qkv[0], qkv[1], qkv[2], scale);
  // [B, H / U, L * U, D] -> [B, H, L, D].
  return ulysses_.all_to_all(out, 2, 1);
}

}  // namespace xdit::parallel
