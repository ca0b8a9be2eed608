#pragma once
// The seam through which every parallel method reaches into a model's
// attention: a model computes q, k, v for the tokens this rank holds and
// hands them to a strategy, which may exchange them with other ranks
// (Ulysses all-to-all, Ring K/V passing, stale K/V buffers of PipeFusion and
// DistriFusion) before attending. Serial runs use LocalAttention.
//
// Two kinds of tokens meet here. Image tokens are split over the ranks of a
// sequence group: each rank holds a run of them. Text tokens of an MMDiT's
// joint attention (SD3, Flux) are held whole by every rank: their keys and
// values join every rank's image keys, and every rank computes the text
// queries' outputs over the whole image. A DiT that only cross-attends to its
// text (PixArt) passes no text here.

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace xdit::models {

// Queries, keys and values of one kind of token, each [B, H, L, D].
struct Qkv {
  at::Tensor q;
  at::Tensor k;
  at::Tensor v;
  bool defined() const { return q.defined(); }
};

// Where the text tokens sit in the model's joined sequence. Attention does
// not depend on the order of its keys beyond rounding; the order is kept so
// that a serial run sums as the reference model does.
enum class JointOrder { kImageFirst, kTextFirst };

// Attention outputs [B, H, L, D] of the image tokens and of the text tokens
// (undefined without text).
struct JointOutput {
  at::Tensor image;
  at::Tensor text;
};

class AttentionStrategy {
 public:
  virtual ~AttentionStrategy() = default;
  // `image`: this rank's image tokens. `text`: the text tokens, the same on
  // every rank, or undefined for plain self-attention. Every query attends to
  // the image tokens of the whole sequence and to the text tokens. `layer`
  // indexes the transformer block, for strategies that keep per-layer state.
  virtual JointOutput attend(int64_t layer, const Qkv& image, const Qkv& text, JointOrder order,
                             double scale) = 0;

  // Self-attention of image tokens alone.
  at::Tensor self_attention(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, double scale);
};

class LocalAttention final : public AttentionStrategy {
 public:
  JointOutput attend(int64_t layer, const Qkv& image, const Qkv& text, JointOrder order,
                     double scale) override;
};

// Image queries [B, H, n, D] and the text's q, k, v (or none) attending to
// the image keys and values [B, H, N, D] of a whole sequence (N >= n) and the
// text's, joined in `order`. `image_bias`: undefined, or [1, 1, 1, N] added to
// the image keys' scores (-inf masks a key). The common last step of every
// strategy, once it has the keys its queries see.
JointOutput attend_joined(const at::Tensor& image_q, const at::Tensor& image_k,
                          const at::Tensor& image_v, const at::Tensor& image_bias, const Qkv& text,
                          JointOrder order, double scale);

// `image` and `text` joined along `dim` in `order` (`image` alone when text
// is undefined).
at::Tensor join_tokens(const at::Tensor& image, const at::Tensor& text, JointOrder order,
                       int64_t dim);

// Splits a joined [B, H, n + L, D] back into image (n tokens) and text.
JointOutput split_tokens(const at::Tensor& joined, int64_t image_tokens, JointOrder order);

}  // namespace xdit::models
