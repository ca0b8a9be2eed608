#pragma once
// What a GPU is and how much of its memory a rank holds: the caching
// allocator's figures (allocated, reserved, peak) and the device's own
// (used and total, whoever uses it, and how busy it is: from NVML where the
// driver has it, core/nvml.hpp). Built without XDIT_WITH_CUDA every
// query answers "no GPU" (an empty name, zero figures), so callers need no
// #ifdef. Waiting for the device goes through LibTorch's CUDA hooks, which
// every build has.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace xdit {

struct GpuMemory {
  int64_t allocated_bytes = 0;       // tensors this process holds now
  int64_t peak_allocated_bytes = 0;  // since the last reset_gpu_peak
  int64_t reserved_bytes = 0;        // the caching allocator's share of the device
  int64_t device_used_bytes = 0;     // all processes, as the driver counts
  int64_t device_total_bytes = 0;
  int utilization_percent = -1;  // NVML's; -1 where NVML is missing
};

// "NVIDIA H200"; "" when this build or machine has no such GPU.
std::string gpu_name(int index);
// The GPU's memory as its properties give it, without starting a CUDA
// context on it (which gpu_memory does); 0 without such a GPU.
int64_t gpu_total_bytes(int index);
GpuMemory gpu_memory(int index);
void reset_gpu_peak(int index);

// Returns when the work queued on `device` has finished (nothing on a CPU).
void synchronize(at::Device device);

}  // namespace xdit
