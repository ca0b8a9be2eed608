#include "models/joint_block.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "models/rope.hpp"

namespace xdit::models {
namespace {

at::Tensor per_sample(const at::Tensor& v) {
  return v.unsqueeze(1);  // [B, D] -> [B, 1, D], broadcast over tokens
}

// Keys of the q, k, v projections and their norms under `attn`.
constexpr const char* kImageNames[5] = {"to_q", "to_k", "to_v", "norm_q.weight", "norm_k.weight"};
constexpr const char* kTextNames[5] = {"add_q_proj", "add_k_proj", "add_v_proj",
                                       "norm_added_q.weight", "norm_added_k.weight"};

}  // namespace

at::Tensor plain_layer_norm(const at::Tensor& x) {
  return at::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6);
}

at::Tensor ContinuousAdaNorm::operator()(const at::Tensor& x,
                                         const at::Tensor& conditioning) const {
  const std::vector<at::Tensor> scale_shift = linear(at::silu(conditioning)).chunk(2, 1);
  return modulate(plain_layer_norm(x), per_sample(scale_shift[1]), per_sample(scale_shift[0]));
}

at::Tensor RmsNorm::operator()(const at::Tensor& x) const {
  const at::Tensor variance = x.to(at::kFloat).pow(2).mean(-1, true);
  const at::Tensor normed = x * at::rsqrt(variance + eps);
  // diffusers multiplies in the weight's dtype when it is a half type.
  if (weight.scalar_type() == at::kHalf || weight.scalar_type() == at::kBFloat16)
    return normed.to(weight.scalar_type()) * weight;
  return normed * weight;
}

HeadProjections HeadProjections::load(const io::Weights& attn, const JointBlockShape& shape,
                                      bool added) {
  const auto& names = added ? kTextNames : kImageNames;
  const int64_t inner = shape.heads * shape.head_dim;
  HeadProjections p;
  p.heads = shape.shard.part(shape.heads, "attention heads");
  p.head_dim = shape.head_dim;
  p.q = shape.shard.load_column(attn.sub(names[0]), shape.dim, inner);
  p.k = shape.shard.load_column(attn.sub(names[1]), shape.dim, inner);
  p.v = shape.shard.load_column(attn.sub(names[2]), shape.dim, inner);
  if (shape.qk_norm) {
    p.norm_q.weight = attn.get(names[3], {shape.head_dim});
    p.norm_k.weight = attn.get(names[4], {shape.head_dim});
  }
  return p;
}

Qkv HeadProjections::operator()(const at::Tensor& x, const at::Tensor& rope) const {
  const auto split = [&](const Linear& proj) {
    return proj(x).view({x.size(0), x.size(1), heads, head_dim}).transpose(1, 2);
  };
  Qkv out{split(q), split(k), split(v)};
  if (norm_q.weight.defined()) {
    out.q = norm_q(out.q);
    out.k = norm_k(out.k);
  }
  if (rope.defined()) {
    out.q = apply_rope(out.q, rope);
    out.k = apply_rope(out.k, rope);
  }
  return out;
}

JointBlock::Stream JointBlock::load_stream(const io::Weights& block, const JointBlockShape& shape,
                                           bool text) {
  const int64_t dim = shape.dim;
  const int64_t inner = shape.heads * shape.head_dim;
  const io::Weights attn = block.sub("attn");
  const bool pre_only = text && shape.context_pre_only;
  const int64_t chunks = pre_only ? 2 : (!text && shape.dual_attention ? 9 : 6);
  Stream s;
  s.modulation =
      Linear::load(block.sub(text ? "norm1_context.linear" : "norm1.linear"), dim, chunks * dim);
  s.heads = HeadProjections::load(attn, shape, text);
  if (!pre_only) {
    const TensorShard& shard = shape.shard;
    s.out = shard.load_row(attn.sub(text ? "to_add_out" : "to_out.0"), inner, dim);
    s.ff1 = shard.load_column(block.sub(text ? "ff_context.net.0.proj" : "ff.net.0.proj"), dim,
                              4 * dim);
    s.ff2 = shard.load_row(block.sub(text ? "ff_context.net.2" : "ff.net.2"), 4 * dim, dim);
  }
  return s;
}

JointBlock::JointBlock(const io::Weights& weights, const JointBlockShape& shape, int64_t layer,
                       int64_t dual_layer)
    : shape_(shape),
      layer_(layer),
      dual_layer_(dual_layer),
      image_(load_stream(weights, shape, false)),
      text_(load_stream(weights, shape, true)) {
  if (shape.dual_attention) {
    const io::Weights attn2 = weights.sub("attn2");
    DualAttention dual;
    dual.heads = HeadProjections::load(attn2, shape);
    dual.out = shape.shard.load_row(attn2.sub("to_out.0"), shape.heads * shape.head_dim, shape.dim);
    dual_ = std::move(dual);
  }
}

at::Tensor JointBlock::project_out(const Linear& out, const at::Tensor& attended) const {
  const at::Tensor merged = attended.transpose(1, 2).reshape(
      {attended.size(0), attended.size(2), attended.size(1) * attended.size(3)});
  return shape_.shard.row_forward(out, merged);
}

at::Tensor JointBlock::mlp(const Stream& stream, const at::Tensor& x) const {
  at::Tensor hidden = stream.ff1(x);
  return shape_.shard.row_forward(stream.ff2, at::gelu_(hidden, "tanh"));
}

void JointBlock::operator()(at::Tensor& image, at::Tensor& text, const at::Tensor& conditioning,
                            const JointRope& rope, AttentionStrategy& attention) const {
  const at::Tensor activated = at::silu(conditioning);

  // adaLN-Zero: shift, scale, gate of the attention, then of the MLP (then,
  // with dual attention, of the second attention).
  const std::vector<at::Tensor> m = image_.modulation(activated).chunk(dual_ ? 9 : 6, 1);
  const at::Tensor image_normed = plain_layer_norm(image);
  const at::Tensor image_in = modulate(image_normed, per_sample(m[0]), per_sample(m[1]));
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

  const double scale = 1.0 / std::sqrt(static_cast<double>(shape_.head_dim));
  const JointOutput attended =
      attention.attend(layer_, image_.heads(image_in, rope.image), text_.heads(text_in, rope.text),
                       shape_.order, scale);
  image = at::addcmul(image, per_sample(m[2]), project_out(image_.out, attended.image));
  if (dual_) {
    // From the block's input, beside the joint attention's.
    const at::Tensor dual_in = modulate(image_normed, per_sample(m[6]), per_sample(m[7]));
    const Qkv qkv = dual_->heads(dual_in, at::Tensor());
    const at::Tensor self = attention.self_attention(dual_layer_, qkv.q, qkv.k, qkv.v, scale);
    image = at::addcmul(image, per_sample(m[8]), project_out(dual_->out, self));
  }
  const at::Tensor mlp_in = modulate(plain_layer_norm(image), per_sample(m[3]), per_sample(m[4]));
  image = at::addcmul(image, per_sample(m[5]), mlp(image_, mlp_in));
  if (shape_.context_pre_only) {
    text = at::Tensor();
    return;
  }
  text = at::addcmul(text, per_sample(c[2]), project_out(text_.out, attended.text));
  const at::Tensor text_mlp_in =
      modulate(plain_layer_norm(text), per_sample(c[3]), per_sample(c[4]));
  text = at::addcmul(text, per_sample(c[5]), mlp(text_, text_mlp_in));
}

}  // namespace xdit::models
