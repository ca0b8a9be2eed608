#pragma once
// What the worker-group tests share: the built-in model written once per
// test run, the xdit-worker under test, a small request and its serial
// result computed in this process, and a check that a process is gone.

#include <sys/types.h>

#include <filesystem>

#include "pipelines/generation.hpp"
#include "workers/group_spec.hpp"
#include "workers/launcher.hpp"

namespace xdit::workers::testing {

const std::filesystem::path& tiny_model();
std::filesystem::path worker_executable();

// 64×96 px without binning (4×6 patches: splits over 2 sequence ranks), 2 steps.
pipelines::GenerationRequest small_request(uint64_t seed = 5);
// The same request through PixArtPipeline in this process.
pipelines::GenerationResult serial_result(const pipelines::GenerationRequest& request);

GroupSpec tiny_spec(const parallel::ParallelConfig& parallel = {});
LaunchOptions test_launch_options();

// Neither running nor a zombie: reaped, or never existed.
bool process_gone(pid_t pid);

// max |a - b|: for images (uint8 levels).
double max_difference(const at::Tensor& a, const at::Tensor& b);
// max |a - b| over the scale of `expected` (at least 1): for latents, which
// the random-weight model drives to ~1e3, where float32 summation-order
// differences between methods are ~1e-3 absolute but ~1e-6 of the scale.
double scaled_difference(const at::Tensor& actual, const at::Tensor& expected);

}  // namespace xdit::workers::testing
