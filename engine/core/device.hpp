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
#include <vector>

namespace xdit {

// How the ranks of a group talk (`--comm`): NCCL between GPUs, one GPU per
// rank; or Gloo, which on GPUs copies through host memory and lets several
// ranks share one GPU. "auto" means NCCL on GPUs, Gloo on CPUs.
enum class CommBackend { kNccl, kGloo };

struct ComputeTarget {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
  CommBackend comm = CommBackend::kGloo;

  // Gloo carrying GPU tensors (parallel::Rendezvous::host_staged).
  bool host_staged() const { return device.is_cuda() && comm == CommBackend::kGloo; }
};

// GPUs this process can use: 0 when LibTorch has no CUDA or none is visible
// (CUDA_VISIBLE_DEVICES is respected by CUDA itself).
int cuda_device_count();

// Why there is no GPU to use, for messages ("" when there is one).
std::string cuda_unavailable_reason();

// "auto": cuda:<local_rank> when GPUs are visible, else the CPU. "cuda":
// cuda:<local_rank>, one GPU per rank of this machine; with `share_gpus`
// (--comm gloo) ranks beyond the GPUs visible wrap around. "cuda:N": that
// GPU. Throws UsageError naming `--device` when the GPU is not there.
at::Device resolve_device(std::string_view spec, int local_rank = 0, bool share_gpus = false);

// "auto": bfloat16 on a GPU, float32 on the CPU. Accepts float32/fp32,
// bfloat16/bf16, float16/fp16/half. Throws UsageError naming `--dtype`.
at::ScalarType resolve_dtype(std::string_view spec, at::Device device);

// "auto", "nccl" or "gloo" for ranks on `device`; UsageError naming --comm
// for NCCL on a CPU or a misspelling.
CommBackend resolve_comm(std::string_view spec, at::Device device);

ComputeTarget resolve_target(std::string_view device, std::string_view dtype,
                             std::string_view comm = "auto", int local_rank = 0);

// "0,2" (--gpus, CUDA_VISIBLE_DEVICES' form): the GPU numbers, in order.
// UsageError naming --gpus for anything else, a repeated number included.
std::vector<int> parse_gpu_list(std::string_view spec);

// "float32", "bfloat16", "float16" (the --dtype spellings).
std::string dtype_name(at::ScalarType dtype);

}  // namespace xdit
