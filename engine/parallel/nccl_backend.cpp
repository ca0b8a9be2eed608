// NCCL process groups, compiled only in CUDA builds (XDIT_WITH_CUDA adds
// USE_C10D_NCCL), so that the CPU build never needs NCCL's headers.
#ifdef XDIT_WITH_CUDA

#include <cstdlib>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "parallel/backend_factory.hpp"

namespace xdit::parallel {

c10::intrusive_ptr<XDIT_C10D_BACKEND> create_nccl_backend(
    const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
    std::chrono::milliseconds timeout) {
  // By default an NCCL work's wait() only makes the current stream wait. A
  // blocking wait keeps Group's promises: the wait ends when the data is
  // there (so the timeline shows true communication time) or throws at the
  // group's timeout instead of hanging on a dead peer. The user's own
  // setting wins; LibTorch before 2.2 reads the name without TORCH_.
  ::setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
  ::setenv("NCCL_BLOCKING_WAIT", "1", 0);
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
}

}  // namespace xdit::parallel

#endif  // XDIT_WITH_CUDA
