#pragma once
// Sequence-parallel self-attention (USP: Ulysses inside, Ring across). Each
// rank of a sequence group holds a run of the image's tokens. Ulysses trades
// tokens for heads with one all-to-all, so that each rank of the Ulysses
// group sees its share of the heads over the tokens of the whole group; Ring
// then passes K/V blocks between the Ulysses groups; a second all-to-all
// gives each rank its own tokens back with every head. Ulysses alone (a ring
// of one) and Ring alone (a Ulysses group of one) are the special cases.

#include "models/attention_strategy.hpp"
#include "parallel/group.hpp"

namespace xdit::parallel {

class UspAttention final : public models::AttentionStrategy {
 public:
  // `ulysses` and `ring`: this rank's groups; either may have one member.
  // Both must outlive the strategy.
  UspAttention(Group& ulysses, Group& ring);

  // q, k, v: [B, H, L, D] for this rank's L tokens (one shape: self-attention),
  // H divisible by the Ulysses degree.
  at::Tensor self_attention(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, double scale) override;

 private:
  Group& ulysses_;
  Group& ring_;
};

}  // namespace xdit::parallel
