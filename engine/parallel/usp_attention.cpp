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

models::JointOutput UspAttention::attend_heads(int64_t layer, const models::Qkv& image,
                                               const models::Qkv& text, models::JointOrder order,
                                               double scale) {
  return inner_ ? inner_->attend(layer, image, text, order, scale)
                : ring_attention(ring_, image, text, order, scale);
}

models::JointOutput UspAttention::attend(int64_t layer, const models::Qkv& image,
                                         const models::Qkv& text, models::JointOrder order,
                                         double scale) {
  const int degree = ulysses_.size();
  if (degree == 1)
    return attend_heads(layer, image, text, order, scale);
  const int64_t heads = image.q.size(1);
  if (heads % degree != 0) {
    throw UsageError("ulysses degree " + std::to_string(degree) + " does not divide the " +
                     std::to_string(heads) + " attention heads of layer " + std::to_string(layer));
  }
  // [3, B, H, L, D] -> [3, B, H / U, L * U, D]: q, k and v in one exchange.
  const at::Tensor qkv = ulysses_.all_to_all(at::stack({image.q, image.k, image.v}), 2, 3);
  models::Qkv own_text;
  if (text.defined()) {
    const int64_t share = heads / degree;
    const int64_t first = share * ulysses_.index();
    own_text = {text.q.narrow(1, first, share), text.k.narrow(1, first, share),
                text.v.narrow(1, first, share)};
  }
  models::JointOutput out = attend_heads(layer, {qkv[0], qkv[1], qkv[2]}, own_text, order, scale);
  // [B, H / U, L * U, D] -> [B, H, L, D].
  out.image = ulysses_.all_to_all(out.image, 2, 1);
  if (text.defined())
    out.text = ulysses_.all_gather(out.text.contiguous(), 1);
  return out;
}

}  // namespace xdit::parallel
