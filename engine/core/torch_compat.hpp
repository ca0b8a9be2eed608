#pragma once
// Every difference between the LibTorch versions we build against lives here:
// Debian bookworm ships 1.13 (CPU), GPU users bring a 2.x CUDA build.

#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/version.h>

#define XDIT_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||       \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace xdit::compat {

// Inference without autograd bookkeeping; the engine never trains.
using InferenceGuard = c10::InferenceMode;

// c10d renamed its collective handle between versions: 1.13 has
// ProcessGroup::Work, 2.x has c10d::Work.
#if XDIT_TORCH_AT_LEAST(2, 0)
#define XDIT_C10D_WORK ::c10d::Work
#else
#define XDIT_C10D_WORK ::c10d::ProcessGroup::Work
#endif

}  // namespace xdit::compat
