#pragma once
// Every difference between the LibTorch versions we build against lives here:
// Debian bookworm ships 1.13 (CPU), GPU users bring a 2.x CUDA build.

#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/Allocator.h>
#include <c10/core/InferenceMode.h>
#include <torch/version.h>

#include <utility>

#define XDIT_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||       \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace xdit::compat {

// Inference without autograd bookkeeping; the engine never trains.
using InferenceGuard = c10::InferenceMode;

// c10d moved its operation handle out of ProcessGroup (ProcessGroup::Work
// before 1.13, c10d::Work from 1.13 on, Debian's 1.13.1 included).
#if XDIT_TORCH_AT_LEAST(1, 13)
#define XDIT_C10D_WORK ::c10d::Work
#else
#define XDIT_C10D_WORK ::c10d::ProcessGroup::Work
#endif

// The class that Gloo and NCCL implement: 2.x splits the user-facing
// ProcessGroup from per-device Backends (ProcessGroupGloo is a Backend there);
// in 1.13 the backends are ProcessGroups. Only the operations that both share
// (send, recv, allgather, alltoall_base, allreduce, broadcast, barrier) are
// called through it. Macros, not aliases, so that this header need not
// include c10d.
#if XDIT_TORCH_AT_LEAST(2, 0)
#define XDIT_C10D_BACKEND ::c10d::Backend
#else
#define XDIT_C10D_BACKEND ::c10d::ProcessGroup
#endif

// LibTorch's fused attention (flash, cuDNN or memory-efficient, as it
// picks), with an additive float mask and an explicit scale: 2.1 on. The
// 1.13 line has none; it has no CUDA either, so only device tensors, which
// that line cannot make, would ever ask for it.
bool has_fused_attention();
at::Tensor fused_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const at::Tensor& bias, double scale);
// The memory-efficient kernel with its log-sum-exp ([B, H, Lq] float32; the
// kernel pads Lq, which is cut back here), for attention that is merged
// afterwards. Same versions as fused_attention. Throws c10::Error where the
// kernel refuses the inputs (head size, alignment of the bias).
std::pair<at::Tensor, at::Tensor> fused_attention_with_lse(const at::Tensor& q, const at::Tensor& k,
                                                           const at::Tensor& v,
                                                           const at::Tensor& bias, double scale);

// c10::Allocator::allocate lost its const in 2.3, when copy_data became a
// pure virtual too. An allocator derives from this and implements
// allocate_bytes once.
class CpuAllocatorBase : public c10::Allocator {
 public:
#if XDIT_TORCH_AT_LEAST(2, 3)
  c10::DataPtr allocate(size_t bytes) override {
    return allocate_bytes(bytes);
  }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
#else
  c10::DataPtr allocate(size_t bytes) const override {
    return allocate_bytes(bytes);
  }
#endif

 protected:
  virtual c10::DataPtr allocate_bytes(size_t bytes) const = 0;
};

}  // namespace xdit::compat
