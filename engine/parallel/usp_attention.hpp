#pragma once
// Sequence-parallel self-attention (USP: Ulysses inside, Ring across). Each
// rank of a sequence group holds a run of the image's tokens. Ulysses trades
// tokens for heads with one all-to-all, so that each rank of the Ulysses
// group sees its share of the heads over the tokens of the whole group; Ring
// then passes K/V blocks between the Ulysses groups; a second all-to-all
// gives each rank its own tokens back with every head. Ulysses alone (a ring
// of one) and Ring alone (a Ulysses group of one) are the special cases.
// PipeFusion replaces the ring by its stale K/V buffers: after the exchange a
// rank holds a patch's every token for its heads, which is what the buffers
// of those heads over the whole sequence need.

#include "models/attention_strategy.hpp"
#include "parallel/group.hpp"

namespace xdit::parallel {

class UspAttention final : public models::AttentionStrategy {
 public:
  // `ulysses` and `ring`: this rank's groups; either may have one member.
  // `inner`, when given, attends the exchanged q, k, v instead of the ring
  // (which must then have one member). All must outlive the strategy.
  UspAttention(Group& ulysses, Group& ring, models::AttentionStrategy* inner = nullptr);

  // q, k, v: [B, H, L, D] for this rank's L tokens (one shape: self-attention),
  // H divisible by the Ulysses degree.
  at::Tensor self_attention(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, double scale) override;

 private:
  // The exchanged heads over the group's tokens: `inner_` or the ring.
  at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    double scale);

  Group& ulysses_;
  Group& ring_;
  models::AttentionStrategy* inner_;
};

}  // namespace xdit::parallel
