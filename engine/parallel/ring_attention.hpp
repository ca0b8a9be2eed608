#pragma once
// Ring attention: the ranks of a ring each hold a block of the sequence's
// image queries, keys and values. The K/V blocks travel around the ring;
// each rank attends its queries to every block as it passes, and the partial
// results merge exactly by their log-sum-exp. The transfer of the next block
// is posted before the current one is attended, so that communication
// overlaps compute. An MMDiT's text tokens, which every rank holds whole,
// join the first ring step: their queries ride along with the image queries
// and their keys and values are attended once, beside the rank's own block.

#include "models/attention_strategy.hpp"
#include "parallel/group.hpp"

namespace xdit::parallel {

// Attention of this rank's image queries (and the text's, when given) over
// the image keys and values of every member of `ring` and the text's. Image
// q, k, v: [B, H, L, D], the same shape on every member; text: the same on
// every member. A ring of one is plain (joint) attention.
models::JointOutput ring_attention(Group& ring, const models::Qkv& image, const models::Qkv& text,
                                   models::JointOrder order, double scale);

}  // namespace xdit::parallel
