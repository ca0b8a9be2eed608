#pragma once
// A denoising step allocates and frees its large tensors in the same sizes
// every step. glibc serves each one above its mmap threshold (at most 32 MiB)
// with a fresh mapping, so every step pays a page fault and the kernel's
// zeroing per 4 KiB page: an elementwise op over a 150 MB tensor ran about
// 8x slower on fresh memory than on reused memory. On the AMD EPYC VM this
// was measured on, a whole PixArt-XL step at 1024 px gained 2-3 % from it;
// machines whose page faults cost more (some hypervisors) gain more.
//
// While a LargeAllocationReuse scope is alive, freed CPU tensor blocks of at
// least kMinReusedBytes go to a free list by exact size, and the next request
// of that size takes one back. When the last scope ends, the kept blocks are
// returned to the system, so memory outside denoising loops (text encoder,
// VAE decode, their peak-memory measurements) behaves as before. The blocks
// kept are at most the step's own allocations of each size: a steady loop
// holds its working set, not more.

#include <cstddef>
#include <cstdint>

namespace xdit {

inline constexpr size_t kMinReusedBytes = size_t{1} << 20;

class LargeAllocationReuse {
 public:
  LargeAllocationReuse();
  ~LargeAllocationReuse();
  LargeAllocationReuse(const LargeAllocationReuse&) = delete;
  LargeAllocationReuse& operator=(const LargeAllocationReuse&) = delete;
};

struct LargeAllocationStats {
  int64_t reused = 0;      // requests served from the free lists
  int64_t fresh = 0;       // large requests that took new memory
  int64_t kept_bytes = 0;  // bytes now waiting in the free lists
};

// Counts since the process started (large blocks only).
LargeAllocationStats large_allocation_stats();

}  // namespace xdit
