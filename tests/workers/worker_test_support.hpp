#pragma once
// What the worker-group tests share: the built-in model written once per
// test run, the xdit-worker under test, a small request and its serial
// result computed in this process, and a check that a process is gone.

#include <sys/types.h>

#include <filesystem>

#include "../parallel/serial_comparison.hpp"
#include "pipelines/generation.hpp"
#include "workers/group_spec.hpp"
#include "workers/launcher.hpp"

namespace xdit::workers::testing {

const std::filesystem::path& tiny_model();
std::filesystem::path worker_executable();

// 64×96 px without binning (4×6 patches: splits over 2 sequence ranks), 2 steps.
pipelines::GenerationRequest small_request(uint64_t seed = 5);
// The same request through DitPipeline in this process.
pipelines::GenerationResult serial_result(const pipelines::GenerationRequest& request);

GroupSpec tiny_spec(const parallel::ParallelConfig& parallel = {});
LaunchOptions test_launch_options();

// Neither running nor a zombie: reaped, or never existed.
bool process_gone(pid_t pid);

// serial_result's latents and how far a worker group's may lie from them, in
// support/rounding.hpp's scaled_difference: the workers sum in other orders
// (other thread counts, batches, tensor-parallel partial sums), so the bar
// is the serial run's own float32 rounding (parallel::testing::
// serial_reference).
parallel::testing::SerialReference serial_reference(const pipelines::GenerationRequest& request);

}  // namespace xdit::workers::testing
