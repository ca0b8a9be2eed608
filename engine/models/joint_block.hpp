#pragma once
// The double-stream block of MMDiTs (SD3's JointTransformerBlock, Flux's
// FluxTransformerBlock): image and text tokens each with their own adaLN,
// projections and MLP, attending jointly through an AttentionStrategy (which
// may split the image tokens over ranks; the text is whole on every rank).
// The families differ in the order of the joined tokens, in normalising
// queries and keys (RMS: Flux, SD3.5), in rotary positions (Flux) and in
// SD3.5's dual attention (a second, image-only self-attention beside the
// joint one); SD3's last block updates only the image.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

#include "io/weight_source.hpp"
#include "models/attention_strategy.hpp"
#include "models/layers.hpp"
#include "models/tensor_shard.hpp"

namespace xdit::models {

struct JointBlockShape {
  int64_t dim = 0;
  int64_t heads = 0;
  int64_t head_dim = 0;
  JointOrder order = JointOrder::kImageFirst;  // Flux joins [text, image]
  bool qk_norm = false;                        // RMS norm of queries and keys per head
  bool context_pre_only = false;               // the text is read, not updated (SD3's last block)
  bool dual_attention = false;                 // SD3.5: an image-only self-attention too
  // The heads and MLP width this block holds (all by default).
  TensorShard shard;
};

// RMS norm over the last dimension with a weight (diffusers RMSNorm, eps
// 1e-6): the mean square in float32 whatever the dtype.
struct RmsNorm {
  at::Tensor weight;
  double eps = 1e-6;
  at::Tensor operator()(const at::Tensor& x) const;
};

// Rotary tables (models/rope.hpp) of the image tokens a rank holds and of the
// text tokens; both undefined for a model without rotary positions.
struct JointRope {
  at::Tensor image;
  at::Tensor text;
};

// The q/k/v projections of one kind of token, turned into heads (this
// shard's), normalised and rotated where the model asks.
struct HeadProjections {
  Linear q, k, v;
  RmsNorm norm_q, norm_k;  // weights undefined without qk_norm
  int64_t heads = 1;       // held by the shard
  int64_t head_dim = 1;

  // From diffusers' Attention `attn`: its own projections (to_q, ...,
  // norm_q), or with `added` those of the added (text) tokens (add_q_proj,
  // ..., norm_added_q).
  static HeadProjections load(const io::Weights& attn, const JointBlockShape& shape,
                              bool added = false);
  // x [B, L, dim] -> q, k, v [B, heads, L, head_dim]; `rope` undefined or the
  // tokens' rotary table.
  Qkv operator()(const at::Tensor& x, const at::Tensor& rope) const;
};

class JointBlock {
 public:
  // `weights`: one block of `transformer_blocks.N` (norm1, norm1_context,
  // attn, ff, ff_context, and attn2 with dual attention). `layer`: its index
  // in the model's list, handed to the attention strategy; the dual
  // attention uses `dual_layer`, an index no other attention uses.
  JointBlock(const io::Weights& weights, const JointBlockShape& shape, int64_t layer,
             int64_t dual_layer = -1);

  // image [B, N, dim] (this rank's tokens), text [B, L, dim] (whole),
  // conditioning [B, dim]. Updates both; text becomes undefined after a
  // context_pre_only block.
  void operator()(at::Tensor& image, at::Tensor& text, const at::Tensor& conditioning,
                  const JointRope& rope, AttentionStrategy& attention) const;

 private:
  struct Stream {
    Linear modulation;  // adaLN-Zero (6 chunks; 9 with dual attention), or (scale, shift)
    HeadProjections heads;
    Linear out;       // undefined for the text of a context_pre_only block
    Linear ff1, ff2;  // GELU(tanh) MLP, as `out`
  };
  // SD3.5's second attention: the image tokens alone.
  struct DualAttention {
    HeadProjections heads;
    Linear out;
  };

  static Stream load_stream(const io::Weights& block, const JointBlockShape& shape, bool text);
  // The attended heads [B, H, L, D] through the row-sharded output projection.
  at::Tensor project_out(const Linear& out, const at::Tensor& attended) const;
  at::Tensor mlp(const Stream& stream, const at::Tensor& x) const;

  JointBlockShape shape_;
  int64_t layer_;
  int64_t dual_layer_;
  Stream image_;
  Stream text_;
  std::optional<DualAttention> dual_;
};

// LayerNorm without affine parameters, eps 1e-6: the norms of MMDiTs.
at::Tensor plain_layer_norm(const at::Tensor& x);

// diffusers AdaLayerNormContinuous, the MMDiTs' output norm: the plain norm,
// then scale and shift (in that order) from the step's conditioning.
struct ContinuousAdaNorm {
  Linear linear;  // SiLU(conditioning) [B, dim] -> [B, 2 dim]
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& conditioning) const;
};

}  // namespace xdit::models
