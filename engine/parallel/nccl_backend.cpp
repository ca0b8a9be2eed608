// NCCL process groups, compiled only in CUDA builds (XDIT_WITH_CUDA adds
// USE_C10D_NCCL), so that the CPU build never needs NCCL's headers.
#ifdef XDIT_WITH_CUDA

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "parallel/backend_factory.hpp"

namespace xdit::parallel {

c10::intrusive_ptr<XDIT_C10D_BACKEND> create_nccl_backend(
    const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
    std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
}

}  // namespace xdit::parallel

#endif  // XDIT_WITH_CUDA
