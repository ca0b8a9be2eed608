#include "core/device.hpp"

#include <ATen/Context.h>
#include <torch/version.h>

#include <algorithm>
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

at::Device resolve_device(std::string_view spec, int local_rank, bool share_gpus) {
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
  int index = share_gpus ? local_rank % count : local_rank;
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
                     " is/are visible" +
                     (spec.size() > 4 ? "" : "; --comm gloo lets ranks share GPUs"));
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

CommBackend resolve_comm(std::string_view spec, at::Device device) {
  if (spec == "gloo" || (spec == "auto" && !device.is_cuda()))
    return CommBackend::kGloo;
  if (spec == "auto")
    return CommBackend::kNccl;
  if (spec != "nccl")
    throw UsageError("--comm " + std::string(spec) + ": expected auto, nccl or gloo");
  if (!device.is_cuda()) {
    throw UsageError("--comm nccl: NCCL connects GPUs, and the ranks run on the " + device.str() +
                     " (--device cuda, or --comm gloo)");
  }
  return CommBackend::kNccl;
}

ComputeTarget resolve_target(std::string_view device, std::string_view dtype, std::string_view comm,
                             int local_rank) {
  ComputeTarget target;
  target.device = resolve_device(device, local_rank, /*share_gpus=*/comm == "gloo");
  target.dtype = resolve_dtype(dtype, target.device);
  target.comm = resolve_comm(comm, target.device);
  return target;
}

std::vector<int> parse_gpu_list(std::string_view spec) {
  std::vector<int> gpus;
  const auto refuse = [&] {
    return UsageError("--gpus " + std::string(spec) +
                      ": expected GPU numbers separated by commas, each once, e.g. 0,2");
  };
  size_t begin = 0;
  while (begin <= spec.size()) {
    const size_t end = std::min(spec.find(',', begin), spec.size());
    const std::string_view number = spec.substr(begin, end - begin);
    if (number.empty() || number.size() > 4 ||
        number.find_first_not_of("0123456789") != std::string_view::npos) {
      throw refuse();
    }
    const int gpu = std::stoi(std::string(number));
    if (std::find(gpus.begin(), gpus.end(), gpu) != gpus.end())
      throw refuse();
    gpus.push_back(gpu);
    begin = end + 1;
  }
  return gpus;
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
