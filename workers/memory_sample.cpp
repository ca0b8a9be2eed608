#include "workers/memory_sample.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace xdit::workers {

MemorySample sample_memory() {
  MemorySample sample;
  // statm: total and resident size, in pages.
  std::ifstream statm("/proc/self/statm");
  int64_t total_pages = 0;
  int64_t resident_pages = 0;
  if (statm >> total_pages >> resident_pages) {
    sample.rss_bytes = resident_pages * ::sysconf(_SC_PAGESIZE);
  }
  // VmHWM: the peak of this process's own memory. getrusage's ru_maxrss is
  // only the fallback, since Linux carries it across execve: a worker would
  // report the peak of the launcher that spawned it if that was larger.
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      sample.peak_rss_bytes = std::stoll(line.substr(6)) * 1024;  // kB
      return sample;
    }
  }
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) == 0) {
    sample.peak_rss_bytes = static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux: kilobytes
  }
  return sample;
}

nlohmann::json to_json(const MemorySample& sample) {
  return {{"rss_bytes", sample.rss_bytes}, {"peak_rss_bytes", sample.peak_rss_bytes}};
}

MemorySample memory_from_json(const nlohmann::json& json) {
  return {json.value("rss_bytes", int64_t{0}), json.value("peak_rss_bytes", int64_t{0})};
}

}  // namespace xdit::workers
