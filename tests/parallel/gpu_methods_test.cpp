// Every parallel method on GPUs gives the serial GPU run's result: label
// `gpu`, skipped where no GPU is visible. With two GPUs or more the ranks take
// one each and talk through NCCL; with one GPU both ranks share it and talk
// through Gloo over host copies (--comm gloo), which runs the same numerics.
// Float32 throughout: the bound is the serial GPU run's own rounding against
// its float64 twin on the same GPU (serial_comparison.hpp), so it covers
// whatever kernels the GPU picks.

#include <gtest/gtest.h>

#include "core/device.hpp"
#include "serial_comparison.hpp"
#include "test_models.hpp"

namespace xdit::parallel {
namespace {

using pipelines::GenerationRequest;
using testing::expect_serial_result;
using testing::mesh;
using testing::square_request;

// A GPU check: the serial pipeline on cuda:0, the group as described above.
testing::SerialCheck on_gpus() {
  testing::SerialCheck check;
  check.options.device = at::Device(at::kCUDA, 0);
  check.options.dtype = at::kFloat;
  check.group.device = check.options.device;
  check.group.host_staged = cuda_device_count() < 2;
  return check;
}

class GpuMethods : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0)
      GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  }

  static void expect_serial(ParallelConfig config, GenerationRequest request = square_request()) {
    expect_serial_result(testing::tiny_pixart_folder(), config, request, on_gpus());
  }
};

TEST_F(GpuMethods, CfgParallel) {
  expect_serial(mesh(1, 2, 1, 1, 1));
}

TEST_F(GpuMethods, DataParallelWithImages) {
  const ParallelConfig config = mesh(2, 1, 1, 1, 1);
  GenerationRequest request = square_request();
  request.decode = true;
  expect_serial(config, request);
}

TEST_F(GpuMethods, Ulysses) {
  expect_serial(mesh(1, 1, 2, 1, 1));
}

// The ring's log-sum-exp merge, and point-to-point messages both ways.
TEST_F(GpuMethods, Ring) {
  expect_serial(mesh(1, 1, 1, 2, 1));
}

TEST_F(GpuMethods, TensorParallel) {
  expect_serial(mesh(1, 1, 1, 1, 2));
}

TEST_F(GpuMethods, PipeFusionWithFullWarmup) {
  ParallelConfig config;
  config.pipefusion_degree = 2;
  config.num_pipeline_patch = 2;
  GenerationRequest request = square_request();
  config.warmup_steps = static_cast<int>(request.num_inference_steps);
  expect_serial(config, request);
}

TEST_F(GpuMethods, DistriFusionWithFullWarmup) {
  ParallelConfig config;
  config.distrifusion_degree = 2;
  GenerationRequest request = square_request();
  config.warmup_steps = static_cast<int>(request.num_inference_steps);
  expect_serial(config, request);
}

// The MMDiTs' joint attention: the text whole on every rank, split by head
// under Ulysses, beside the first block of the ring; the text stream
// travelling with each PipeFusion patch.
TEST_F(GpuMethods, Sd3CfgTimesUlysses) {
  expect_serial_result(testing::tiny_sd3_folder(), mesh(1, 2, 2, 1, 1), testing::mmdit_request(7.0),
                       on_gpus());
}

TEST_F(GpuMethods, FluxRingAndTensorParallel) {
  for (const ParallelConfig& config : {mesh(1, 1, 1, 2, 1), mesh(1, 1, 1, 1, 2)})
    expect_serial_result(testing::tiny_flux_folder(), config, testing::mmdit_request(3.5),
                         on_gpus());
}

TEST_F(GpuMethods, FluxPipeFusionWithFullWarmup) {
  ParallelConfig config;
  config.pipefusion_degree = 2;
  config.num_pipeline_patch = 2;
  config.warmup_steps = 3;
  expect_serial_result(testing::tiny_flux_folder(), config, testing::mmdit_request(3.5), on_gpus());
}

TEST_F(GpuMethods, CfgParallelThenPatchParallelVae) {
  ParallelConfig config = mesh(1, 2, 1, 1, 1);
  config.use_parallel_vae = true;
  GenerationRequest request = square_request();
  request.decode = true;
  expect_serial(config, request);
}

}  // namespace
}  // namespace xdit::parallel
