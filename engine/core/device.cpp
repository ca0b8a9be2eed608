#include "core/device.hpp"

#include <ATen/Context.h>
#include <torch/version.h>

#include <cstdlib>

#include "core/error.hpp"

namespace xdit {

int cuda_device_count() {
  if (!at::hasCUDA())
    return 0;
  return at::detail::getCUDAHooks().getNumGPUs();
}

std::string cuda_unavailable_reason() {
  if (!at::hasCUDA() && !at::detail::getCUDAHooks().hasCUDART()) {
    return std::string("this build's LibTorch (") + TORCH_VERSION +
           ") has no CUDA; build against a CUDA LibTorch (README: GPUs)";
  }
  if (cuda_device_count() > 0)
    return "";
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  return std::string("no GPU is visible") +
         (visible ? std::string(" (CUDA_VISIBLE_DEVICES=") + visible + ")" : "") +
         " or the NVIDIA driver is not loaded";
}

at::Device resolve_device(std::string_view spec, int local_rank) {
  const int count = cuda_device_count();
  if (spec == "cpu")
    return at::kCPU;
  if (spec == "auto" && count == 0)
    return at::kCPU;
  if (spec != "auto" && spec.substr(0, 4) != "cuda") {
    throw UsageError("--device " + std::string(spec) + ": expected auto, cpu, cuda or cuda:N");
  }
  if (count == 0)
    throw UsageError("--device " + std::string(spec) + ": " + cuda_unavailable_reason());
  int index = local_rank;
  if (spec.size() > 4) {
    const std::string number(spec.substr(spec.size() > 5 && spec[4] == ':' ? 5 : spec.size()));
    char* end = nullptr;
    const long parsed = std::strtol(number.c_str(), &end, 10);
    if (number.empty() || *end != '\0' || parsed < 0) {
      throw UsageError("--device " + std::string(spec) + ": expected auto, cpu, cuda or cuda:N");
    }
    index = static_cast<int>(parsed);
  }
  if (index >= count) {
    throw UsageError("--device " + std::string(spec) + ": GPU " + std::to_string(index) +
                     " is wanted (one GPU per rank of this machine) but " + std::to_string(count) +
                     " is/are visible");
  }
  return {at::kCUDA, static_cast<c10::DeviceIndex>(index)};
}

at::ScalarType resolve_dtype(std::string_view spec, at::Device device) {
  if (spec == "auto")
    return device.is_cuda() ? at::kBFloat16 : at::kFloat;
  if (spec == "float32" || spec == "fp32")
    return at::kFloat;
  if (spec == "bfloat16" || spec == "bf16")
    return at::kBFloat16;
  if (spec == "float16" || spec == "fp16" || spec == "half")
    return at::kHalf;
  throw UsageError("--dtype " + std::string(spec) +
                   ": expected auto, float32, bfloat16 or float16");
}

ComputeTarget resolve_target(std::string_view device, std::string_view dtype, int local_rank) {
  ComputeTarget target;
  target.device = resolve_device(device, local_rank);
  target.dtype = resolve_dtype(dtype, target.device);
  return target;
}

std::string dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return "float32";
    case at::kBFloat16:
      return "bfloat16";
    case at::kHalf:
      return "float16";
    default:
      return c10::toString(dtype);
  }
}

}  // namespace xdit
