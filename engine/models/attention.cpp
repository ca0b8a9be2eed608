#include "models/attention.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>

namespace xdit::models {
namespace {

// Scores are computed for a block of (batch*head, query) rows against a block
// of keys at a time; about a million scores (4 MB in float32) keeps a block in
// the last-level cache while being large enough for an efficient GEMM.
constexpr int64_t kScoresPerBlock = int64_t{1} << 20;
constexpr int64_t kMaxKeyBlock = 8192;

// The bias rows/cols of one block; broadcast dimensions (size 1) stay whole.
at::Tensor bias_block(const at::Tensor& bias, int64_t q0, int64_t qn, int64_t k0, int64_t kn) {
  at::Tensor block = bias;
  if (block.size(-2) != 1) block = block.narrow(-2, q0, qn);
  if (block.size(-1) != 1) block = block.narrow(-1, k0, kn);
  return block;
}

// One block: exact softmax attention of q_block over k/v_block.
PartialAttention block_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 const at::Tensor& bias, double scale) {
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2));
  scores.mul_(scale);
  if (bias.defined()) scores.add_(bias);
  at::Tensor max = std::get<0>(scores.max(-1, /*keepdim=*/true));
  // A row whose every key is masked with -inf would give inf - inf = NaN.
  max.clamp_min_(std::numeric_limits<float>::lowest());
  scores.sub_(max).exp_();
  at::Tensor denominator = scores.sum(-1, /*keepdim=*/true).clamp_min_(
      std::numeric_limits<float>::min());
  at::Tensor out = at::matmul(scores, v).div_(denominator);
  at::Tensor lse = (max.to(at::kFloat) + denominator.to(at::kFloat).log()).squeeze(-1);
  return {out, lse};
}

}  // namespace

PartialAttention merge_partial(const PartialAttention& a, const PartialAttention& b) {
  at::Tensor lse = at::logaddexp(a.lse, b.lse);
  at::Tensor wa = (a.lse - lse).exp_().unsqueeze(-1).to(a.out.scalar_type());
  at::Tensor wb = (b.lse - lse).exp_().unsqueeze(-1).to(b.out.scalar_type());
  return {a.out * wa + b.out * wb, lse};
}

PartialAttention attention_partial(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& bias, double scale) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention expects [B, H, L, D]");
  const int64_t lq = q.size(2);
  const int64_t lk = k.size(2);
  const int64_t key_block = std::min(lk, kMaxKeyBlock);
  const int64_t heads = q.size(0) * q.size(1);
  const int64_t query_block = std::clamp<int64_t>(kScoresPerBlock / (key_block * heads), 1, lq);

  at::Tensor out = at::empty_like(q);
  at::Tensor lse = at::empty({q.size(0), q.size(1), lq}, q.options().dtype(at::kFloat));
  for (int64_t q0 = 0; q0 < lq; q0 += query_block) {
    const int64_t qn = std::min(query_block, lq - q0);
    const at::Tensor q_block = q.narrow(2, q0, qn);
    PartialAttention running;
    for (int64_t k0 = 0; k0 < lk; k0 += key_block) {
      const int64_t kn = std::min(key_block, lk - k0);
      const at::Tensor bias_part = bias.defined() ? bias_block(bias, q0, qn, k0, kn) : at::Tensor();
      PartialAttention part = block_attention(q_block, k.narrow(2, k0, kn), v.narrow(2, k0, kn),
                                              bias_part, scale);
      running = running.out.defined() ? merge_partial(running, part) : std::move(part);
    }
    out.narrow(2, q0, qn).copy_(running.out);
    lse.narrow(2, q0, qn).copy_(running.lse);
  }
  return {out, lse};
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& bias, double scale) {
  return attention_partial(q, k, v, bias, scale).out;
}

}  // namespace xdit::models
