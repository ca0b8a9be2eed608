#pragma once
// Scaled dot-product attention computed in blocks with a running
// log-sum-exp: the full score matrix is never materialised, so memory grows
// linearly with the number of tokens, and partial results over disjoint key
// sets merge exactly (the form Ring attention and stale K/V buffers need).

#include <ATen/core/Tensor.h>

namespace xdit::models {

// Attention of some queries over a subset of the keys.
struct PartialAttention {
  at::Tensor out;  // [B, H, Lq, D], normalised over the keys seen so far
  at::Tensor lse;  // [B, H, Lq] float32: log of the softmax denominator
};

// q: [B, H, Lq, D]; k, v: [B, H, Lk, D]. `bias` is added to the scores and
// broadcasts to [B, H, Lq, Lk] (undefined for none). `scale` multiplies the
// scores before the bias is added (1/sqrt(D) usually; 1 for T5).
PartialAttention attention_partial(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& bias, double scale);

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& bias, double scale);

// Combines attention over two disjoint key sets into attention over both.
PartialAttention merge_partial(const PartialAttention& a, const PartialAttention& b);

}  // namespace xdit::models
