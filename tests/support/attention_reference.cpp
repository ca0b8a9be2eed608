#include "attention_reference.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "rounding.hpp"

namespace xdit::testing {

// The float32 evaluation, whichever way it is blocked (the kernel's online
// softmax, merged partials, ring steps), rounds:
// - each score s_j = scale·(q·k_j) + b_j, a dot product of D terms then a
//   product and a sum: |error| ≤ E_j = γ_(D+2) (|scale| Σ|q_i k_ji| + |b_j|);
// - each exponential's argument s_j - max (u |s_j - max|) and each rescaling
//   factor's: weighted by the softmax p_j these add up to at most
//   u log(Lk) each, since Σ p_j (max - s_j) ≤ the entropy of p ≤ log(Lk);
// - the exponentials (vectorised, within 4u), at most two roundings per
//   rescaling (at most one per key), the sum of Lk exponentials and the
//   weighted sum of Lk values: together at most γ_(3 Lk + 8) relative;
// - the normalisation (a reciprocal and a product, 2u) and the lse's log
//   (u log(Lk), as 1 ≤ Σ exp(s_j - max) ≤ Lk) and sum (u |lse|).
// To first order a score error E_j moves the lse by p_j E_j and the output
// by p_j E_j |v_j| plus the shift of the mean, which gives the bounds below.
// A merge of partial results rounds the lse's log-add-exp (3u |lse| + 2u)
// and the rescaled outputs (an exponential, two products and a sum, 6u);
// the partial lse's errors it weighs them with are those above, regrouped.
AttentionReference attention_reference(const at::Tensor& q, const at::Tensor& k,
                                       const at::Tensor& v, const at::Tensor& bias, double scale,
                                       int64_t merges) {
  const at::Tensor q64 = q.to(at::kDouble);
  const at::Tensor k64 = k.to(at::kDouble);
  const at::Tensor v64 = v.to(at::kDouble);
  at::Tensor scores = at::matmul(q64, k64.transpose(-1, -2)).mul_(scale);
  at::Tensor magnitude = at::matmul(q64.abs(), k64.abs().transpose(-1, -2)).mul_(std::abs(scale));
  if (bias.defined()) {
    const at::Tensor b = bias.to(at::kDouble);
    scores = scores + b;
    magnitude = magnitude + b.abs();
  }
  const double u = kFloat32Unit;
  const double log_lk = std::log(static_cast<double>(k.size(-2)));
  const double sums = gamma(3 * k.size(-2) + 8);
  const double arguments = 2 * u * log_lk;
  const at::Tensor p = at::softmax(scores, -1);
  const at::Tensor weighted_error = p * magnitude.mul_(gamma(q.size(-1) + 2));  // p_j E_j
  const at::Tensor mean_error = weighted_error.sum(-1, true);
  const at::Tensor abs_v = v64.abs();

  AttentionReference reference;
  reference.out = at::matmul(p, v64);
  reference.lse = at::logsumexp(scores, -1);
  const double m = static_cast<double>(merges);
  reference.lse_bound = mean_error.squeeze(-1) + (sums + arguments + u * log_lk + 2 * m * u) +
                        (1 + 3 * m) * u * reference.lse.abs();
  reference.out_bound = at::matmul(weighted_error, abs_v) +
                        (mean_error + 3 * sums + arguments + 6 * m * u) * at::matmul(p, abs_v) +
                        arguments * std::get<0>(abs_v.max(-2, true)) + 2 * u * reference.out.abs();
  return reference;
}

}  // namespace xdit::testing
