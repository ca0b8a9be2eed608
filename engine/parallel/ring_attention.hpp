#pragma once
// Ring attention: the ranks of a ring each hold a block of the sequence's
// queries, keys and values. The K/V blocks travel around the ring; each rank
// attends its queries to every block as it passes, and the partial results
// merge exactly by their log-sum-exp. The transfer of the next block is
// posted before the current one is attended, so that communication overlaps
// compute.

#include <ATen/core/Tensor.h>

#include "parallel/group.hpp"

namespace xdit::parallel {

// Self-attention of this rank's queries over the keys and values of every
// member of `ring`. q, k, v: [B, H, L, D], the same shape on every member.
// Returns [B, H, L, D]. A ring of one is plain attention.
at::Tensor ring_attention(Group& ring, const at::Tensor& q, const at::Tensor& k,
                          const at::Tensor& v, double scale);

}  // namespace xdit::parallel
