#include "models/attention_strategy.hpp"

#include <ATen/ATen.h>

#include "models/attention.hpp"

namespace xdit::models {

at::Tensor AttentionStrategy::self_attention(int64_t layer, const at::Tensor& q,
                                             const at::Tensor& k, const at::Tensor& v,
                                             double scale) {
  return attend(layer, {q, k, v}, {}, JointOrder::kImageFirst, scale).image;
}

JointOutput LocalAttention::attend(int64_t /*layer*/, const Qkv& image, const Qkv& text,
                                   JointOrder order, double scale) {
  return attend_joined(image.q, image.k, image.v, at::Tensor(), text, order, scale);
}

at::Tensor join_tokens(const at::Tensor& image, const at::Tensor& text, JointOrder order,
                       int64_t dim) {
  if (!text.defined())
    return image;
  return order == JointOrder::kTextFirst ? at::cat({text, image}, dim)
                                         : at::cat({image, text}, dim);
}

JointOutput split_tokens(const at::Tensor& joined, int64_t image_tokens, JointOrder order) {
  const int64_t text_tokens = joined.size(2) - image_tokens;
  if (text_tokens == 0)
    return {joined, at::Tensor()};
  const bool text_first = order == JointOrder::kTextFirst;
  return {joined.narrow(2, text_first ? text_tokens : 0, image_tokens),
          joined.narrow(2, text_first ? 0 : image_tokens, text_tokens)};
}

JointOutput attend_joined(const at::Tensor& image_q, const at::Tensor& image_k,
                          const at::Tensor& image_v, const at::Tensor& image_bias, const Qkv& text,
                          JointOrder order, double scale) {
  if (!text.defined())
    return {attention(image_q, image_k, image_v, image_bias, scale), at::Tensor()};
  at::Tensor bias;
  if (image_bias.defined()) {
    // The text keys are never masked.
    const at::Tensor open = at::zeros({1, 1, 1, text.k.size(2)}, image_bias.options());
    bias = join_tokens(image_bias, open, order, 3);
  }
  const at::Tensor out =
      attention(join_tokens(image_q, text.q, order, 2), join_tokens(image_k, text.k, order, 2),
                join_tokens(image_v, text.v, order, 2), bias, scale);
  return split_tokens(out, image_q.size(2), order);
}

}  // namespace xdit::models
