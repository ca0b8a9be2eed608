#pragma once
// Where a rank computes and in which precision. The command line's
// `--device auto|cpu|cuda|cuda:N` and `--dtype auto|float32|bfloat16|float16`
// are resolved here, once per rank, into a ComputeTarget that travels from
// the request to every tensor the rank makes: weights through
// io::Weights::to, inputs and latents through the pipeline. A LibTorch
// built without CUDA, or a machine with no visible GPU, gets a refusal that
// says which of the two it is, never a crash.

#include <ATen/core/Tensor.h>

#include <string>
#include <string_view>

namespace xdit {

struct ComputeTarget {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
};

// GPUs this process can use: 0 when LibTorch has no CUDA or none is visible
// (CUDA_VISIBLE_DEVICES is respected by CUDA itself).
int cuda_device_count();

// Why there is no GPU to use, for messages ("" when there is one).
std::string cuda_unavailable_reason();

// "auto": cuda:<local_rank> when GPUs are visible, else the CPU. "cuda":
// cuda:<local_rank>, one GPU per rank of this machine. "cuda:N": that GPU.
// Throws UsageError naming `--device` when the GPU asked for is not there.
at::Device resolve_device(std::string_view spec, int local_rank = 0);

// "auto": bfloat16 on a GPU, float32 on the CPU. Accepts float32/fp32,
// bfloat16/bf16, float16/fp16/half. Throws UsageError naming `--dtype`.
at::ScalarType resolve_dtype(std::string_view spec, at::Device device);

ComputeTarget resolve_target(std::string_view device, std::string_view dtype, int local_rank = 0);

// "float32", "bfloat16", "float16" (the --dtype spellings).
std::string dtype_name(at::ScalarType dtype);

}  // namespace xdit
