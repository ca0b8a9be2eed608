#include "core/gpu_info.hpp"

#include <ATen/Context.h>

#ifdef XDIT_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

#include "core/device.hpp"
#include "core/nvml.hpp"

namespace xdit {

#ifdef XDIT_WITH_CUDA
namespace {

bool present(int index) {
  return index >= 0 && index < cuda_device_count();
}

}  // namespace

std::string gpu_name(int index) {
  if (!present(index))
    return "";
  return at::cuda::getDeviceProperties(index)->name;
}

int64_t gpu_total_bytes(int index) {
  if (!present(index))
    return 0;
  return static_cast<int64_t>(at::cuda::getDeviceProperties(index)->totalGlobalMem);
}

GpuMemory gpu_memory(int index) {
  GpuMemory memory;
  if (!present(index))
    return memory;
  namespace allocator = c10::cuda::CUDACachingAllocator;
  const auto stats = allocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
  // StatType::AGGREGATE, the first entry in every version (the enum itself
  // moved from CUDACachingAllocator to c10::CachingAllocator in 2.x).
  constexpr size_t kAll = 0;
  memory.allocated_bytes = stats.allocated_bytes[kAll].current;
  memory.peak_allocated_bytes = stats.allocated_bytes[kAll].peak;
  memory.reserved_bytes = stats.reserved_bytes[kAll].current;
  char bus_id[32] = {};
  if (cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), index) == cudaSuccess) {
    if (const auto reading = nvml_reading(bus_id)) {
      memory.device_used_bytes = reading->used_bytes;
      memory.device_total_bytes = reading->total_bytes;
      memory.utilization_percent = reading->utilization_percent;
      return memory;
    }
  }
  const c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(index));
  size_t free = 0, total = 0;
  if (cudaMemGetInfo(&free, &total) == cudaSuccess) {
    memory.device_used_bytes = static_cast<int64_t>(total - free);
    memory.device_total_bytes = static_cast<int64_t>(total);
  }
  return memory;
}

void reset_gpu_peak(int index) {
  if (present(index))
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(index));
}

#else

std::string gpu_name(int) {
  return "";
}
int64_t gpu_total_bytes(int) {
  return 0;
}
GpuMemory gpu_memory(int) {
  return {};
}
void reset_gpu_peak(int) {}

#endif

void synchronize(at::Device device) {
  if (device.is_cuda())
    at::detail::getCUDAHooks().deviceSynchronize(device.index());
}

}  // namespace xdit
