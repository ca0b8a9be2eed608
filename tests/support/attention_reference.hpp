#pragma once
// Attention computed naively in float64 (the whole score matrix), with the
// bounds within which any float32 evaluation of it stays, whatever order it
// sums in: the reference of the attention tests, alone and split over ranks.

#include <ATen/core/Tensor.h>

namespace xdit::testing {

struct AttentionReference {
  at::Tensor out;        // softmax(q k^T · scale + bias) v: [..., Lq, Dv], float64
  at::Tensor lse;        // log Σ exp(scores): [..., Lq], float64
  at::Tensor out_bound;  // per element of out, float64
  at::Tensor lse_bound;  // per element of lse, float64
};

// q [..., Lq, D], k [..., Lk, D], v [..., Lk, Dv]; `bias` (may be undefined)
// broadcasts to [..., Lq, Lk] and must be finite (-1e4 masks a key as well
// as -inf, and keeps the naive softmax defined). Lk must be at least 1.
// `merges`: how many times the float32 result merges partial results over
// disjoint keys (merge_partial, ring steps), each adding a few roundings.
AttentionReference attention_reference(const at::Tensor& q, const at::Tensor& k,
                                       const at::Tensor& v, const at::Tensor& bias, double scale,
                                       int64_t merges = 0);

}  // namespace xdit::testing
