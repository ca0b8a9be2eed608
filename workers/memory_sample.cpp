#include "workers/memory_sample.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "core/gpu_info.hpp"

namespace xdit::workers {

namespace {

GpuSample sample_gpu(int index) {
  const GpuMemory memory = gpu_memory(index);
  GpuSample gpu;
  gpu.index = index;
  gpu.name = gpu_name(index);
  gpu.allocated_bytes = memory.allocated_bytes;
  gpu.peak_allocated_bytes = memory.peak_allocated_bytes;
  gpu.reserved_bytes = memory.reserved_bytes;
  gpu.device_used_bytes = memory.device_used_bytes;
  gpu.device_total_bytes = memory.device_total_bytes;
  gpu.utilization_percent = memory.utilization_percent;
  return gpu;
}

}  // namespace

std::string GpuSample::label() const {
  const std::string device = "cuda:" + std::to_string(index);
  return name.empty() ? device : device + " (" + name + ")";
}

int64_t peak_bytes(const MemorySample& sample) {
  if (sample.gpu)
    return std::max(sample.gpu->allocated_bytes, sample.gpu->peak_allocated_bytes);
  return std::max(sample.rss_bytes, sample.peak_rss_bytes);
}

MemorySample sample_memory(int gpu_index) {
  MemorySample sample;
  if (gpu_index >= 0)
    sample.gpu = sample_gpu(gpu_index);
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
  nlohmann::json json = {{"rss_bytes", sample.rss_bytes},
                         {"peak_rss_bytes", sample.peak_rss_bytes}};
  if (const auto& gpu = sample.gpu) {
    json["gpu"] = {{"index", gpu->index},
                   {"name", gpu->name},
                   {"allocated_bytes", gpu->allocated_bytes},
                   {"peak_allocated_bytes", gpu->peak_allocated_bytes},
                   {"reserved_bytes", gpu->reserved_bytes},
                   {"device_used_bytes", gpu->device_used_bytes},
                   {"device_total_bytes", gpu->device_total_bytes},
                   {"utilization_percent", gpu->utilization_percent}};
  }
  return json;
}

MemorySample memory_from_json(const nlohmann::json& json) {
  MemorySample sample{json.value("rss_bytes", int64_t{0}), json.value("peak_rss_bytes", int64_t{0}),
                      std::nullopt};
  if (json.contains("gpu") && json["gpu"].is_object()) {
    const nlohmann::json& g = json["gpu"];
    GpuSample gpu;
    gpu.index = g.value("index", 0);
    gpu.name = g.value("name", std::string());
    gpu.allocated_bytes = g.value("allocated_bytes", int64_t{0});
    gpu.peak_allocated_bytes = g.value("peak_allocated_bytes", int64_t{0});
    gpu.reserved_bytes = g.value("reserved_bytes", int64_t{0});
    gpu.device_used_bytes = g.value("device_used_bytes", int64_t{0});
    gpu.device_total_bytes = g.value("device_total_bytes", int64_t{0});
    gpu.utilization_percent = g.value("utilization_percent", -1);
    sample.gpu = gpu;
  }
  return sample;
}

}  // namespace xdit::workers
