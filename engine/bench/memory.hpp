#pragma once
// Resident memory of this process, for benchmarks: the current and the peak
// resident set, and a reset of the peak, so that a benchmark case reports
// its own high-water mark rather than that of everything run before it.

#include <cstdint>

namespace xdit::bench {

struct MemoryUsage {
  int64_t resident_bytes = 0;       // VmRSS
  int64_t peak_resident_bytes = 0;  // VmHWM: the high-water mark since start or last reset
};

// From /proc/self/status; where that is missing, getrusage's peak (and no
// current figure).
MemoryUsage memory_usage();

// Lowers the peak to the current resident set (Linux 4.0+, through
// /proc/self/clear_refs). False where the kernel does not support it: the
// peak then still counts from the start of the process.
bool reset_peak_memory();

}  // namespace xdit::bench
