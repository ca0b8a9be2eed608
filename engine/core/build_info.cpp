#include "core/build_info.hpp"

#include <torch/version.h>

#include "xdit_git_revision.hpp"

#ifdef XDIT_WITH_CUDA
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

namespace xdit {

std::string xdit_version() {
  return XDIT_VERSION;
}

std::string git_revision() {
  return XDIT_GIT_REVISION;
}

std::string torch_version() {
  return TORCH_VERSION;
}

std::string cuda_version() {
#ifdef XDIT_WITH_CUDA
  return std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10);
#else
  return "";
#endif
}

std::string nccl_version() {
#ifdef XDIT_WITH_CUDA
  return std::to_string(NCCL_MAJOR) + "." + std::to_string(NCCL_MINOR) + "." +
         std::to_string(NCCL_PATCH);
#else
  return "";
#endif
}

}  // namespace xdit
