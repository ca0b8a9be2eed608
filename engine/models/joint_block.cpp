#include "models/joint_block.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "models/attention.hpp"
#include "models/rope.hpp"

namespace xdit::models {
namespace {

at::Tensor per_sample(const at::Tensor& v) {
  return v.unsqueeze(1);  // [B, D] -> [B, 1, D], broadcast over tokens
}

}  // namespace

at::Tensor plain_layer_norm(const at::Tensor& x) {
  return at::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6);
}

at::Tensor RmsNorm::operator()(const at::Tensor& x) const {
  const at::Tensor variance = x.to(at::kFloat).pow(2).mean(-1, true);
  const at::Tensor normed = x * at::rsqrt(variance + eps);
  // diffusers multiplies in the weight's dtype when it is a half type.
  if (weight.scalar_type() == at::kHalf || weight.scalar_type() == at::kBFloat16)
    return normed.to(weight.scalar_type()) * weight;
  return normed * weight;
}

JointBlock::Stream JointBlock::load_stream(const io::Weights& block, const JointBlockShape& shape,
                                           bool text) {
  const int64_t dim = shape.dim;
  const int64_t inner = shape.heads * shape.head_dim;
  const io::Weights attn = block.sub("attn");
  const bool pre_only = text && shape.context_pre_only;
  Stream s;
  s.modulation = Linear::load(block.sub(text ? "norm1_context.linear" : "norm1.linear"), dim,
                              (pre_only ? 2 : 6) * dim);
  s.q = Linear::load(attn.sub(text ? "add_q_proj" : "to_q"), dim, inner);
  s.k = Linear::load(attn.sub(text ? "add_k_proj" : "to_k"), dim, inner);
  s.v = Linear::load(attn.sub(text ? "add_v_proj" : "to_v"), dim, inner);
  if (shape.qk_norm) {
    s.norm_q.weight = attn.get(text ? "norm_added_q.weight" : "norm_q.weight", {shape.head_dim});
    s.norm_k.weight = attn.get(text ? "norm_added_k.weight" : "norm_k.weight", {shape.head_dim});
  }
  if (!pre_only) {
    s.out = Linear::load(attn.sub(text ? "to_add_out" : "to_out.0"), inner, dim);
    s.ff1 = Linear::load(block.sub(text ? "ff_context.net.0.proj" : "ff.net.0.proj"), dim, 4 * dim);
    s.ff2 = Linear::load(block.sub(text ? "ff_context.net.2" : "ff.net.2"), 4 * dim, dim);
  }
  return s;
}

JointBlock::JointBlock(const io::Weights& weights, const JointBlockShape& shape)
    : shape_(shape),
      image_(load_stream(weights, shape, false)),
      text_(load_stream(weights, shape, true)) {}

void JointBlock::operator()(at::Tensor& image, at::Tensor& text, const at::Tensor& conditioning,
                            const at::Tensor& rope) const {
  const int64_t batch = image.size(0);
  const int64_t image_tokens = image.size(1);
  const int64_t text_tokens = text.size(1);
  const at::Tensor activated = at::silu(conditioning);

  // adaLN-Zero: shift, scale, gate of the attention, then of the MLP.
  const std::vector<at::Tensor> m = image_.modulation(activated).chunk(6, 1);
  const at::Tensor image_in = modulate(plain_layer_norm(image), per_sample(m[0]), per_sample(m[1]));
  std::vector<at::Tensor> c;
  at::Tensor text_in;
  if (shape_.context_pre_only) {
    // Continuous adaLN: scale first, then shift.
    c = text_.modulation(activated).chunk(2, 1);
    text_in = modulate(plain_layer_norm(text), per_sample(c[1]), per_sample(c[0]));
  } else {
    c = text_.modulation(activated).chunk(6, 1);
    text_in = modulate(plain_layer_norm(text), per_sample(c[0]), per_sample(c[1]));
  }

  // One stream's queries, keys or values as heads, normalised where asked.
  const auto heads = [&](const Linear& proj, const at::Tensor& x, const RmsNorm* norm) {
    at::Tensor h = proj(x).view({batch, x.size(1), shape_.heads, shape_.head_dim}).transpose(1, 2);
    return norm && norm->weight.defined() ? (*norm)(h) : h;
  };
  const auto joined = [&](const at::Tensor& from_image, const at::Tensor& from_text) {
    return shape_.text_first ? at::cat({from_text, from_image}, 2)
                             : at::cat({from_image, from_text}, 2);
  };
  at::Tensor q =
      joined(heads(image_.q, image_in, &image_.norm_q), heads(text_.q, text_in, &text_.norm_q));
  at::Tensor k =
      joined(heads(image_.k, image_in, &image_.norm_k), heads(text_.k, text_in, &text_.norm_k));
  const at::Tensor v = joined(heads(image_.v, image_in, nullptr), heads(text_.v, text_in, nullptr));
  if (rope.defined()) {
    q = apply_rope(q, rope);
    k = apply_rope(k, rope);
  }
  const at::Tensor attended =
      attention(q, k, v, at::Tensor(), 1.0 / std::sqrt(static_cast<double>(shape_.head_dim)))
          .transpose(1, 2)
          .reshape({batch, -1, shape_.heads * shape_.head_dim});
  const int64_t image_first = shape_.text_first ? text_tokens : 0;
  const int64_t text_first = shape_.text_first ? 0 : image_tokens;

  image = at::addcmul(image, per_sample(m[2]),
                      image_.out(attended.narrow(1, image_first, image_tokens)));
  const at::Tensor mlp_in = modulate(plain_layer_norm(image), per_sample(m[3]), per_sample(m[4]));
  image = at::addcmul(image, per_sample(m[5]), image_.ff2(at::gelu(image_.ff1(mlp_in), "tanh")));
  if (shape_.context_pre_only) {
    text = at::Tensor();
    return;
  }
  text =
      at::addcmul(text, per_sample(c[2]), text_.out(attended.narrow(1, text_first, text_tokens)));
  const at::Tensor text_mlp_in =
      modulate(plain_layer_norm(text), per_sample(c[3]), per_sample(c[4]));
  text = at::addcmul(text, per_sample(c[5]), text_.ff2(at::gelu(text_.ff1(text_mlp_in), "tanh")));
}

}  // namespace xdit::models
