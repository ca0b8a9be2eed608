#pragma once
// A process's memory as the kernel counts it: what it holds now (resident
// set) and the most it held since it started. On CPU this is what a rank's
// weights, activations and buffers cost; the Studio charts both per rank.
// A rank on a GPU adds that GPU's figures (core/gpu_info.hpp), which are then
// the ones that matter.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace xdit::workers {

struct GpuSample {
  int index = 0;                     // cuda:<index> among the GPUs the rank can see
  std::string name;                  // "NVIDIA H200"
  int64_t allocated_bytes = 0;       // the rank's tensors now
  int64_t peak_allocated_bytes = 0;  // since the generation began
  int64_t reserved_bytes = 0;        // held by LibTorch's caching allocator
  int64_t device_used_bytes = 0;     // by every process on the GPU
  int64_t device_total_bytes = 0;
  int utilization_percent = -1;  // -1: unknown (no NVML)

  // "cuda:0 (NVIDIA H200)": how charts and tables label it.
  std::string label() const;
};

struct MemorySample {
  int64_t rss_bytes = 0;
  int64_t peak_rss_bytes = 0;
  std::optional<GpuSample> gpu = std::nullopt;  // set when the rank computes on a GPU
};

// Of the calling process, and of GPU `gpu_index` when it is one (>= 0);
// zeros where the kernel does not say.
MemorySample sample_memory(int gpu_index = -1);

// The figure a chart or table shows for a rank: its GPU's peak when it has
// one, else the larger of its resident set now and at its peak.
int64_t peak_bytes(const MemorySample& sample);

nlohmann::json to_json(const MemorySample& sample);
MemorySample memory_from_json(const nlohmann::json& json);

}  // namespace xdit::workers
