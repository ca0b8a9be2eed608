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
// of those heads over the whole sequence need. An MMDiT's text tokens, held
// whole by every rank, need no exchange: each rank of the Ulysses group takes
// its share of their heads, and the text outputs of every share are gathered
// back afterwards.

#include "models/attention_strategy.hpp"
#include "parallel/group.hpp"

namespace xdit::parallel {

class UspAttention final : public models::AttentionStrategy {
 public:
  // `ulysses` and `ring`: this rank's groups; either may have one member.
  // `inner`, when given, attends the exchanged q, k, v instead of the ring
  // (which must then have one member). All must outlive the strategy.
  UspAttention(Group& ulysses, Group& ring, models::AttentionStrategy* inner = nullptr);

  // image q, k, v: [B, H, L, D] for this rank's L tokens (one shape); H
  // divisible by the Ulysses degree.
  models::JointOutput attend(int64_t layer, const models::Qkv& image, const models::Qkv& text,
                             models::JointOrder order, double scale) override;

 private:
  // The exchanged heads over the group's tokens: `inner_` or the ring.
  models::JointOutput attend_heads(int64_t layer, const models::Qkv& image, const models::Qkv& text,
                                   models::JointOrder order, double scale);

  Group& ulysses_;
  Group& ring_;
  models::AttentionStrategy* inner_;
};

}  // namespace xdit::parallel
