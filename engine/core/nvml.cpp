#include "core/nvml.hpp"

#include <dlfcn.h>

#include <mutex>

namespace xdit {
namespace {

// The few NVML types and entry points used, as nvml.h declares them (stable
// since NVML's v2 initialisation); declared here so that no NVML header or
// library is needed to build.
using NvmlReturn = int;
constexpr NvmlReturn kNvmlSuccess = 0;
using NvmlDevice = struct NvmlDeviceOpaque*;
struct NvmlMemory {
  unsigned long long total, free, used;
};
struct NvmlUtilization {
  unsigned int gpu, memory;
};

struct Nvml {
  NvmlReturn (*device_by_bus_id)(const char*, NvmlDevice*) = nullptr;
  NvmlReturn (*memory_info)(NvmlDevice, NvmlMemory*) = nullptr;
  NvmlReturn (*utilization)(NvmlDevice, NvmlUtilization*) = nullptr;
  NvmlReturn (*driver_version)(char*, unsigned int) = nullptr;
};

template <typename Function>
bool bind(void* library, const char* name, Function& function) {
  function = reinterpret_cast<Function>(::dlsym(library, name));
  return function != nullptr;
}

// Loaded and initialised once per process; null when unavailable. The
// library stays loaded: NVML's shutdown is not needed at process exit.
const Nvml* nvml() {
  static std::once_flag once;
  static Nvml loaded;
  static bool available = false;
  std::call_once(once, [] {
    void* library = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library)
      return;
    NvmlReturn (*init)() = nullptr;
    available = bind(library, "nvmlInit_v2", init) &&
                bind(library, "nvmlDeviceGetHandleByPciBusId_v2", loaded.device_by_bus_id) &&
                bind(library, "nvmlDeviceGetMemoryInfo", loaded.memory_info) &&
                bind(library, "nvmlDeviceGetUtilizationRates", loaded.utilization) &&
                bind(library, "nvmlSystemGetDriverVersion", loaded.driver_version) &&
                init() == kNvmlSuccess;
  });
  return available ? &loaded : nullptr;
}

}  // namespace

std::optional<NvmlReading> nvml_reading(const std::string& pci_bus_id) {
  const Nvml* api = nvml();
  NvmlDevice device = nullptr;
  NvmlMemory memory{};
  NvmlUtilization utilization{};
  if (!api || api->device_by_bus_id(pci_bus_id.c_str(), &device) != kNvmlSuccess ||
      api->memory_info(device, &memory) != kNvmlSuccess) {
    return std::nullopt;
  }
  NvmlReading reading;
  reading.used_bytes = static_cast<int64_t>(memory.used);
  reading.total_bytes = static_cast<int64_t>(memory.total);
  if (api->utilization(device, &utilization) == kNvmlSuccess)
    reading.utilization_percent = static_cast<int>(utilization.gpu);
  return reading;
}

std::string nvml_driver_version() {
  const Nvml* api = nvml();
  char version[96] = {};
  if (!api || api->driver_version(version, sizeof(version)) != kNvmlSuccess)
    return "";
  return version;
}

}  // namespace xdit
