#pragma once
// The double-stream block of MMDiTs (SD3's JointTransformerBlock, Flux's
// FluxTransformerBlock): image and text tokens each with their own adaLN,
// projections and MLP, attending jointly. The two families differ in the
// order of the joined tokens, in normalising queries and keys (RMS, Flux)
// and in rotary positions (Flux); SD3's last block updates only the image.

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "io/weight_source.hpp"
#include "models/layers.hpp"

namespace xdit::models {

struct JointBlockShape {
  int64_t dim = 0;
  int64_t heads = 0;
  int64_t head_dim = 0;
  bool text_first = false;        // Flux joins [text, image]; SD3 [image, text]
  bool qk_norm = false;           // RMS norm of queries and keys per head (Flux)
  bool context_pre_only = false;  // the text is read, not updated (SD3's last block)
};

// RMS norm over the last dimension with a weight (diffusers RMSNorm, eps
// 1e-6): the mean square in float32 whatever the dtype.
struct RmsNorm {
  at::Tensor weight;
  double eps = 1e-6;
  at::Tensor operator()(const at::Tensor& x) const;
};

class JointBlock {
 public:
  // `weights`: one block of `transformer_blocks.N` (norm1, norm1_context,
  // attn, ff, ff_context).
  JointBlock(const io::Weights& weights, const JointBlockShape& shape);

  // image [B, N, dim], text [B, L, dim], conditioning [B, dim]; `rope`:
  // undefined, or the rotary table of the joined tokens (models/rope.hpp).
  // Updates both; text becomes undefined after a context_pre_only block.
  void operator()(at::Tensor& image, at::Tensor& text, const at::Tensor& conditioning,
                  const at::Tensor& rope) const;

 private:
  struct Stream {
    Linear modulation;  // adaLN-Zero (6 chunks), or continuous (scale, shift)
    Linear q, k, v;
    RmsNorm norm_q, norm_k;  // weights undefined without qk_norm
    Linear out;              // undefined for the text of a context_pre_only block
    Linear ff1, ff2;         // GELU(tanh) MLP, as `out`
  };

  static Stream load_stream(const io::Weights& block, const JointBlockShape& shape, bool text);

  JointBlockShape shape_;
  Stream image_;
  Stream text_;
};

// LayerNorm without affine parameters, eps 1e-6: the norms of MMDiTs.
at::Tensor plain_layer_norm(const at::Tensor& x);

}  // namespace xdit::models
