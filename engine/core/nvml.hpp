#pragma once
// NVIDIA's management library (NVML), loaded when first asked: it comes with
// the driver, not with CUDA's toolkit, so a build or a machine without it
// still works and every query then answers nothing. What it adds to CUDA's
// own figures: the device's utilisation, and the driver's version.

#include <cstdint>
#include <optional>
#include <string>

namespace xdit {

struct NvmlReading {
  int64_t used_bytes = 0;  // by every process on the device
  int64_t total_bytes = 0;
  int utilization_percent = -1;  // kernels running in NVML's last sample period; -1: unknown
};

// The device at this PCI bus id ("0000:3B:00.0", as CUDA gives it): NVML
// numbers devices without CUDA_VISIBLE_DEVICES, so an index would not do.
std::optional<NvmlReading> nvml_reading(const std::string& pci_bus_id);

// "580.95.05"; "" without NVML.
std::string nvml_driver_version();

}  // namespace xdit
