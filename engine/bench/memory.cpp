#include "bench/memory.hpp"

#include <sys/resource.h>

#include <fstream>
#include <sstream>
#include <string>

namespace xdit::bench {

MemoryUsage memory_usage() {
  MemoryUsage usage;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    std::istringstream fields(line);
    std::string name;
    int64_t kib = 0;
    fields >> name >> kib;
    if (name == "VmRSS:")
      usage.resident_bytes = kib * 1024;
    if (name == "VmHWM:")
      usage.peak_resident_bytes = kib * 1024;
  }
  if (usage.peak_resident_bytes == 0) {
    rusage self{};
    // ru_maxrss is in KiB on Linux and the BSDs.
    if (::getrusage(RUSAGE_SELF, &self) == 0)
      usage.peak_resident_bytes = self.ru_maxrss * 1024;
  }
  return usage;
}

bool reset_peak_memory() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  // "5" resets the peak resident set size (see proc(5)).
  clear_refs << "5";
  clear_refs.flush();
  return static_cast<bool>(clear_refs);
}

}  // namespace xdit::bench
