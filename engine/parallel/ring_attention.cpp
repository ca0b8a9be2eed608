#include "parallel/ring_attention.hpp"

#include <ATen/ATen.h>

#include <optional>

#include "models/attention.hpp"

namespace xdit::parallel {

using models::join_tokens;

models::JointOutput ring_attention(Group& ring, const models::Qkv& image, const models::Qkv& text,
                                   models::JointOrder order, double scale) {
  const int n = ring.size();
  if (n == 1)
    return models::attend_joined(image.q, image.k, image.v, at::Tensor(), text, order, scale);
  const int next = ring.ranks()[(ring.index() + 1) % n];
  const int prev = ring.ranks()[(ring.index() + n - 1) % n];
  const at::Tensor q = join_tokens(image.q, text.q, order, 2);
  // K and V travel as one message.
  at::Tensor block = at::stack({image.k, image.v});
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
    // The text's keys are attended once, joined to the rank's own block.
    const at::Tensor k = step == 0 ? join_tokens(block[0], text.k, order, 2) : block[0];
    const at::Tensor v = step == 0 ? join_tokens(block[1], text.v, order, 2) : block[1];
    models::PartialAttention part = models::attention_partial(q, k, v, at::Tensor(), scale);
    merged = merged ? models::merge_partial(*merged, part) : std::move(part);
    if (more) {
      receive.wait();
      send.wait();
      block = incoming;
    }
  }
  return models::split_tokens(merged->out, image.q.size(2), order);
}

}  // namespace xdit::parallel
