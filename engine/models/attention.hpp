#pragma once
// Scaled dot-product attention computed in blocks with a running
// log-sum-exp: the full score matrix is never materialised, so memory grows
// linearly with the number of tokens, and partial results over disjoint key
// sets merge exactly (the form Ring attention and stale K/V buffers need).
// The work is done by the fused kernel of models/attention_kernel.hpp, one
// (batch, head) slice per task, in parallel over ATen's intra-op threads.

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace xdit::models {

// Attention of some queries over a subset of the keys.
struct PartialAttention {
  at::Tensor out;  // [B, H, Lq, Dv], normalised over the keys seen so far
  at::Tensor lse;  // [B, H, Lq] float32 (float64 for float64): log of the softmax denominator
};

// q: [B, H, Lq, D]; k: [B, H, Lk, D]; v: [B, H, Lk, Dv] (any strides: the
// [B, L, H, D] layout of a projection viewed as heads is read in place).
// `bias` is added to the scores and broadcasts to [B, H, Lq, Lk] (undefined
// for none; -inf masks a key). `scale` multiplies the scores before the bias
// is added (1/sqrt(D) usually; 1 for T5). float32, bfloat16 and float16 in,
// the same dtype out; the arithmetic is float32. float64 (for reference runs
// in tests) is computed in float64 by plain ATen operations over the whole
// score matrix, and its lse is float64. On a GPU LibTorch's memory-efficient
// kernel gives out and lse (the plain form in float32 where it refuses the
// inputs); attention() uses LibTorch's choice of fused kernel. A query whose
// every key is masked gets a zero output and a very negative (finite) lse,
// so that merging it with attention over other keys gives exactly that
// attention.
PartialAttention attention_partial(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& bias, double scale);

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& bias, double scale);

// Combines attention over two disjoint key sets into attention over both.
PartialAttention merge_partial(const PartialAttention& a, const PartialAttention& b);

// Working memory attention_partial takes per thread besides its inputs and
// output (K and V of one head packed, one group of query rows): linear in the
// token counts, where a score matrix would grow with their product.
int64_t attention_workspace_bytes(int64_t lq, int64_t lk, int64_t d, int64_t dv);

}  // namespace xdit::models
