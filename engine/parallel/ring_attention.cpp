#include "parallel/ring_attention.hpp"

#include <ATen/ATen.h>

#include <optional>

#include "models/attention.hpp"

namespace xdit::parallel {

at::Tensor ring_attention(Group& ring, const at::Tensor& q, const at::Tensor& k,
                          const at::Tensor& v, double scale) {
  const int n = ring.size();
  if (n == 1)
    return models::attention(q, k, v, at::Tensor(), scale);
  const int next = ring.ranks()[(ring.index() + 1) % n];
  const int prev = ring.ranks()[(ring.index() + n - 1) % n];
  // K and V travel as one message.
  at::Tensor block = at::stack({k, v});
  std::optional<models::PartialAttention> merged;
  for (int step = 0; step < n; ++step) {
    const bool more = step + 1 < n;
    at::Tensor incoming;
    PendingOp receive;
    PendingOp send;
    if (more) {
      incoming = at::empty_like(block);
      receive = ring.irecv(incoming, prev, step);
      send = ring.isend(block, next, step);
    }
    models::PartialAttention part =
        models::attention_partial(q, block[0], block[1], at::Tensor(), scale);
    merged = merged ? models::merge_partial(*merged, part) : std::move(part);
    if (more) {
      receive.wait();
      send.wait();
      block = incoming;
    }
  }
  return merged->out;
}

}  // namespace xdit::parallel
