#pragma once
// diffusers' BasicTransformerBlock with norm_type "ada_norm_single" (the
// PixArt block): modulated self-attention, cross-attention to the text with
// the prompt's mask bias, and a modulated GELU feed-forward, each gated and
// added to the residual stream. Self-attention goes through an
// AttentionStrategy, so a parallel method decides which keys a band of
// tokens sees; the block itself works on any contiguous subset of tokens.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>

#include "io/weight_source.hpp"
#include "models/attention_strategy.hpp"
#include "models/layers.hpp"
#include "models/tensor_shard.hpp"

namespace xdit::models {

// The q/k/v/out projections of diffusers' Attention (to_q, to_k, to_v,
// to_out.0) and the head layout around them. With a split `shard`, q/k/v
// hold the shard's heads and to_out their input columns.
struct AttentionProjections {
  Linear to_q;
  Linear to_k;
  Linear to_v;
  Linear to_out;
  int64_t heads = 1;  // held by this shard
  int64_t head_dim = 1;
  TensorShard shard;

  // `kv_dim`: channels of the tokens keys and values come from (query_dim
  // for self-attention, the text width for cross-attention). `heads`: of the
  // whole layer.
  static AttentionProjections load(const io::Weights& weights, int64_t query_dim, int64_t kv_dim,
                                   int64_t heads, int64_t head_dim, bool qkv_bias,
                                   bool out_bias = true, const TensorShard& shard = {});

  // [B, L, heads * head_dim] <-> [B, heads, L, head_dim].
  at::Tensor split_heads(const at::Tensor& x) const;
  at::Tensor merge_heads(const at::Tensor& x) const;
  double scale() const;
  // to_out of the attended heads [B, heads, L, head_dim]: [B, L, query_dim],
  // summed over the shards.
  at::Tensor project_out(const at::Tensor& attended) const;
};

enum class FeedForwardActivation { kGelu, kGeluTanh };

// diffusers FeedForward with a GELU activation: net.0.proj -> GELU -> net.2.
// With a split `shard`, each shard holds a slice of the hidden width.
struct FeedForward {
  Linear proj_in;
  Linear proj_out;
  FeedForwardActivation activation = FeedForwardActivation::kGeluTanh;
  TensorShard shard;

  static FeedForward load(const io::Weights& weights, int64_t dim, int64_t inner_dim,
                          FeedForwardActivation activation, bool bias = true,
                          const TensorShard& shard = {});
  at::Tensor operator()(const at::Tensor& x) const;
};

struct TransformerBlockOptions {
  int64_t dim = 0;
  int64_t heads = 1;
  int64_t head_dim = 1;
  // Width of the text tokens; no cross-attention when unset.
  std::optional<int64_t> cross_attention_dim;
  bool attention_bias = true;
  FeedForwardActivation activation = FeedForwardActivation::kGeluTanh;
  bool norm_elementwise_affine = false;
  double norm_eps = 1e-6;
  // The heads and feed-forward width this block holds (all by default).
  TensorShard shard;
};

class BasicTransformerBlock {
 public:
  static constexpr int64_t kModulationRows = 6;  // shift/scale/gate for attention and MLP

  // `weights` is the block's own view ("transformer_blocks.<layer>"); `layer`
  // is its index in the whole model, handed to the attention strategy.
  BasicTransformerBlock(const io::Weights& weights, const TransformerBlockOptions& options,
                        int64_t layer);

  int64_t layer() const { return layer_; }
  bool has_cross_attention() const { return attn2_.has_value(); }

  // tokens [B, N, dim]: any contiguous band of the image's tokens.
  // modulation [B, 6 * dim]: adaLN-single's output for the step.
  // text [B, L, cross_attention_dim] and text_bias (broadcastable to
  // [B, heads, N, L], undefined for none): the prompt, when the block has
  // cross-attention. Returns the updated tokens [B, N, dim].
  at::Tensor operator()(const at::Tensor& tokens, const at::Tensor& modulation,
                        const at::Tensor& text, const at::Tensor& text_bias,
                        AttentionStrategy& self_attention) const;

 private:
  int64_t layer_;
  int64_t dim_;
  LayerNorm norm1_;
  LayerNorm norm2_;
  AttentionProjections attn1_;
  std::optional<AttentionProjections> attn2_;
  FeedForward ff_;
  at::Tensor scale_shift_table_;  // [6, dim]
};

}  // namespace xdit::models
