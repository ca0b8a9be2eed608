#pragma once
// Measures the link between two ranks for the planner's α-β model: two
// members of one group in this process (a thread each, on a core each where
// there are two, meeting through a file store as a local worker group does:
// Gloo over loopback on a CPU), exchanging a 4-byte and then a large message
// both ways at once, as the parallel methods do. The fastest small
// exchange is α; the large one's extra time over it gives β, per rank and direction.
// Then an all-to-all, an all-reduce and an all-gather of the same size give
// each collective's slowdown over the exchange per counted byte.

#include <cstdint>

#include "plan/link_model.hpp"

namespace xdit::plan {

struct LinkProbeOptions {
  int64_t large_bytes = 16 << 20;
  int rounds = 20;  // timed exchanges per size, after 3 untimed
};

// name "measured". Error (from the communicator) when the pair cannot form.
LinkModel probe_local_link(const LinkProbeOptions& options = {});

}  // namespace xdit::plan
