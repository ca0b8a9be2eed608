#include "worker_test_support.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <fstream>

#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"

namespace xdit::workers::testing {

const std::filesystem::path& tiny_model() {
  static const std::filesystem::path folder = pipelines::resolve_model(
      "builtin:tiny-pixart", std::filesystem::path(::testing::TempDir()) / "xdit-workers-test");
  return folder;
}

std::filesystem::path worker_executable() {
  return XDIT_WORKER_EXECUTABLE;
}

pipelines::GenerationRequest small_request(uint64_t seed) {
  pipelines::GenerationRequest request;
  request.prompts = {"a small red house"};
  request.height = 64;
  request.width = 96;
  request.num_inference_steps = 2;
  request.use_resolution_binning = false;
  request.seed = seed;
  return request;
}

pipelines::GenerationResult serial_result(const pipelines::GenerationRequest& request) {
  static const auto pipeline = pipelines::DitPipeline::load(io::ModelFolder(tiny_model()), {});
  return pipeline.generate(request);
}

GroupSpec tiny_spec(const parallel::ParallelConfig& parallel) {
  GroupSpec spec;
  spec.model = tiny_model().string();
  spec.parallel = parallel;
  spec.world_size = static_cast<int>(parallel.product());
  spec.comm_timeout = std::chrono::seconds(60);
  return spec;
}

LaunchOptions test_launch_options() {
  LaunchOptions options;
  options.worker_executable = worker_executable();
  options.grace = std::chrono::seconds(3);
  return options;
}

bool process_gone(pid_t pid) {
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

parallel::testing::SerialReference serial_reference(const pipelines::GenerationRequest& request) {
  return parallel::testing::serial_reference(io::ModelFolder(tiny_model()), {}, request);
}

}  // namespace xdit::workers::testing
