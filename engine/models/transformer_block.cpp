#include "models/transformer_block.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "models/attention.hpp"

namespace xdit::models {
namespace {

std::string shape_of(const at::Tensor& t) {
  return t.defined() ? c10::str(t.sizes()) : "none";
}

}  // namespace

AttentionProjections AttentionProjections::load(const io::Weights& weights, int64_t query_dim,
                                                int64_t kv_dim, int64_t heads, int64_t head_dim,
                                                bool qkv_bias, bool out_bias,
                                                const TensorShard& shard) {
  const int64_t inner = heads * head_dim;
  AttentionProjections attn;
  // Whole heads per shard: the rows of q/k/v are head-major.
  attn.heads = shard.part(heads, "attention heads of " + weights.prefix() + "*");
  attn.head_dim = head_dim;
  attn.shard = shard;
  attn.to_q = shard.load_column(weights.sub("to_q"), query_dim, inner, qkv_bias);
  attn.to_k = shard.load_column(weights.sub("to_k"), kv_dim, inner, qkv_bias);
  attn.to_v = shard.load_column(weights.sub("to_v"), kv_dim, inner, qkv_bias);
  attn.to_out = shard.load_row(weights.sub("to_out.0"), inner, query_dim, out_bias);
  return attn;
}

at::Tensor AttentionProjections::split_heads(const at::Tensor& x) const {
  return x.reshape({x.size(0), x.size(1), heads, head_dim}).transpose(1, 2);
}

at::Tensor AttentionProjections::merge_heads(const at::Tensor& x) const {
  return x.transpose(1, 2).reshape({x.size(0), x.size(2), heads * head_dim});
}

double AttentionProjections::scale() const {
  return 1.0 / std::sqrt(static_cast<double>(head_dim));
}

at::Tensor AttentionProjections::project_out(const at::Tensor& attended) const {
  return shard.row_forward(to_out, merge_heads(attended));
}

FeedForward FeedForward::load(const io::Weights& weights, int64_t dim, int64_t inner_dim,
                              FeedForwardActivation activation, bool bias,
                              const TensorShard& shard) {
  return {shard.load_column(weights.sub("net.0.proj"), dim, inner_dim, bias),
          shard.load_row(weights.sub("net.2"), inner_dim, dim, bias), activation, shard};
}

at::Tensor FeedForward::operator()(const at::Tensor& x) const {
  const char* approximate = activation == FeedForwardActivation::kGeluTanh ? "tanh" : "none";
  // In place: the projection's output is a fresh tensor nothing else holds.
  at::Tensor hidden = proj_in(x);
  return shard.row_forward(proj_out, at::gelu_(hidden, approximate));
}

BasicTransformerBlock::BasicTransformerBlock(const io::Weights& weights,
                                             const TransformerBlockOptions& options, int64_t layer)
    : layer_(layer),
      dim_(options.dim),
      norm1_(LayerNorm::load(weights.sub("norm1"), options.dim, options.norm_eps,
                             options.norm_elementwise_affine)),
      // ada_norm_single has no norm3: norm2 serves the feed-forward.
      norm2_(LayerNorm::load(weights.sub("norm2"), options.dim, options.norm_eps,
                             options.norm_elementwise_affine)),
      attn1_(AttentionProjections::load(weights.sub("attn1"), options.dim, options.dim,
                                        options.heads, options.head_dim, options.attention_bias,
                                        /*out_bias=*/true, options.shard)),
      ff_(FeedForward::load(weights.sub("ff"), options.dim, 4 * options.dim, options.activation,
                            /*bias=*/true, options.shard)),
      scale_shift_table_(weights.get("scale_shift_table", {kModulationRows, options.dim})) {
  if (options.cross_attention_dim) {
    attn2_ =
        AttentionProjections::load(weights.sub("attn2"), options.dim, *options.cross_attention_dim,
                                   options.heads, options.head_dim, options.attention_bias,
                                   /*out_bias=*/true, options.shard);
  }
}

at::Tensor BasicTransformerBlock::operator()(const at::Tensor& tokens, const at::Tensor& modulation,
                                             const at::Tensor& text, const at::Tensor& text_bias,
                                             AttentionStrategy& self_attention) const {
  if (tokens.dim() != 3 || tokens.size(2) != dim_) {
    throw UsageError("transformer block " + std::to_string(layer_) + " expects tokens [B, N, " +
                     std::to_string(dim_) + "], got " + shape_of(tokens));
  }
  const int64_t batch = tokens.size(0);
  if (!modulation.defined() || modulation.dim() != 2 || modulation.size(0) != batch ||
      modulation.size(1) != kModulationRows * dim_) {
    throw UsageError("transformer block " + std::to_string(layer_) + " expects a modulation [" +
                     std::to_string(batch) + ", " + std::to_string(kModulationRows * dim_) +
                     "], got " + shape_of(modulation));
  }
  // Each row is [B, 1, dim] and broadcasts over whichever tokens this band holds.
  const std::vector<at::Tensor> rows =
      (scale_shift_table_.unsqueeze(0) + modulation.reshape({batch, kModulationRows, dim_}))
          .chunk(kModulationRows, 1);
  const at::Tensor& shift_msa = rows[0];
  const at::Tensor& scale_msa = rows[1];
  const at::Tensor& gate_msa = rows[2];
  const at::Tensor& shift_mlp = rows[3];
  const at::Tensor& scale_mlp = rows[4];
  const at::Tensor& gate_mlp = rows[5];

  const at::Tensor normed = modulate(norm1_(tokens), shift_msa, scale_msa);
  const at::Tensor attended = self_attention.self_attention(
      layer_, attn1_.split_heads(attn1_.to_q(normed)), attn1_.split_heads(attn1_.to_k(normed)),
      attn1_.split_heads(attn1_.to_v(normed)), attn1_.scale());
  // Gated residuals in one pass each: tokens + gate * out.
  at::Tensor hidden = at::addcmul(tokens, gate_msa, attn1_.project_out(attended));

  if (attn2_) {
    if (!text.defined() || text.dim() != 3 || text.size(0) != batch ||
        text.size(2) != attn2_->to_k.weight.size(1)) {
      throw UsageError("transformer block " + std::to_string(layer_) + " expects text [" +
                       std::to_string(batch) + ", L, " +
                       std::to_string(attn2_->to_k.weight.size(1)) + "], got " + shape_of(text));
    }
    // PixArt applies no norm before cross-attention.
    const at::Tensor cross = attention(
        attn2_->split_heads(attn2_->to_q(hidden)), attn2_->split_heads(attn2_->to_k(text)),
        attn2_->split_heads(attn2_->to_v(text)), text_bias, attn2_->scale());
    hidden = attn2_->project_out(cross) + hidden;
  }

  const at::Tensor mlp_in = modulate(norm2_(hidden), shift_mlp, scale_mlp);
  return at::addcmul(hidden, gate_mlp, ff_(mlp_in));
}

}  // namespace xdit::models
