#pragma once
// The benchmark cases of `xdit bench --device cuda`: a bfloat16 GEMM on the
// GPU (the rate the steps are measured against, in the same run) and steps
// of the PixArt-XL/2 transformer (28 layers, CFG batch 2, random weights) at
// 1024 and 2048 px and of the Flux.1-dev one (19 + 38 blocks) at 1024 px in
// bfloat16, with their achieved TFLOP/s, the ratio to
// the GEMM and the GPU's peak memory. The eager-PyTorch baseline of the same
// shapes (scripts/gpu-check.sh runs it beside) is the peer they answer to.
// Every case refuses to run, naming --device, where no GPU is visible.

#include <vector>

#include "bench/serial_cases.hpp"

namespace xdit::bench {

std::vector<BenchCase> gpu_cases();

}  // namespace xdit::bench
