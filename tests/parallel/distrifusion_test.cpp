// DistriFusion on real process groups: with every step a warm-up step it is
// exact (the serial run's latents), alone and with cfg and data parallel; with
// stale steps it stays close to serial while its K/V all-gathers carry the
// traffic the method is known for.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "core/error.hpp"
#include "parallel/communicator.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "process_group_harness.hpp"
#include "serial_comparison.hpp"
#include "support/rounding.hpp"
#include "test_models.hpp"

namespace xdit::parallel {
namespace {

using pipelines::DitPipeline;
using pipelines::GenerationRequest;
using pipelines::GenerationResult;
using testing::expect_serial_result;
using testing::run_process_group;
using xdit::testing::scaled_difference;

ParallelConfig distrifusion(int degree, int warmup_steps, int cfg = 1, int data = 1) {
  ParallelConfig config;
  config.distrifusion_degree = degree;
  config.warmup_steps = warmup_steps;
  config.cfg_degree = cfg;
  config.data_degree = data;
  return config;
}

GenerationRequest full_warmup(GenerationRequest request, ParallelConfig& config) {
  config.warmup_steps = static_cast<int>(request.num_inference_steps);
  return request;
}

TEST(DistriFusion, EveryStepWarmIsSerialOnTwoRanks) {
  ParallelConfig config = distrifusion(2, 0);
  const GenerationRequest request = full_warmup(testing::square_request(), config);
  expect_serial_result(testing::tiny_pixart_folder(), config, request);
}

TEST(DistriFusion, EveryStepWarmIsSerialWithCfgParallel) {
  ParallelConfig config = distrifusion(2, 0, 2);
  const GenerationRequest request = full_warmup(testing::square_request(), config);
  expect_serial_result(testing::tiny_pixart_folder(), config, request);
}

TEST(DistriFusion, EveryStepWarmIsSerialWithDataParallelAndImages) {
  ParallelConfig config = distrifusion(2, 0, 1, 2);
  GenerationRequest request = full_warmup(testing::square_request(), config);
  request.decode = true;
  expect_serial_result(testing::tiny_pixart_folder(), config, request);
}

TEST(DistriFusion, EveryStepWarmIsSerialOnFourBandsOfAWideImage) {
  ParallelConfig config = distrifusion(4, 0);
  const GenerationRequest request = full_warmup(testing::wide_request(), config);
  expect_serial_result(testing::six_head_pixart_folder(), config, request);
}

// One warm-up step of three: the later steps attend to the other band's K/V
// of the step before. The result moves away from serial, but by a fraction of
// the latents' scale, not by the scale itself (a broken exchange would).
TEST(DistriFusion, StaleStepsStayCloseToSerialAndGatherKeysAndValues) {
  const ParallelConfig config = distrifusion(2, 1);
  const GenerationRequest request = testing::square_request();
  run_process_group(config, [&](Communicator& comm, int rank) {
    const io::ModelFolder model(testing::tiny_pixart_folder());
    const DitPipeline pipeline = DitPipeline::load(model, {}, comm);
    comm.stats().reset();
    const GenerationResult result = pipeline.generate(request);
    const OpCounters gathers = comm.stats().of(CommOp::kAllGather);
    // Per layer, each rank's K and V of its band (batch 4: two prompts, two
    // guidance branches) go to the other rank: 6 layers × 2 tensors × 4 ×
    // 32 tokens × 192 channels × 4 bytes. Step 0 gathers them synchronously
    // and step 1 ahead for step 2; the last step has no next step to feed.
    // The latent bands add a little.
    const int64_t kv_bytes = 6 * 2 * 4 * 32 * 192 * 4;
    EXPECT_GE(gathers.bytes_sent, 2 * kv_bytes);
    EXPECT_LT(gathers.bytes_sent, 2 * kv_bytes + kv_bytes / 10);
    if (rank != 0)
      return;
    const testing::SerialReference serial = testing::serial_reference(model, {}, request);
    const double difference = scaled_difference(result.latents, serial.result.latents);
    EXPECT_GT(difference, serial.tolerance) << "stale steps changed nothing";
    EXPECT_LT(difference, 0.1);
  });
}

TEST(DistriFusion, RefusesBandsThatDoNotDivideTheRows) {
  run_process_group(distrifusion(3, 1), [](Communicator& comm, int) {
    const DitPipeline pipeline =
        DitPipeline::load(io::ModelFolder(testing::tiny_pixart_folder()), {}, comm);
    try {
      pipeline.generate(testing::square_request());
      ADD_FAILURE() << "expected a UsageError";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("distrifusion degree 3 does not divide the 8"),
                std::string::npos)
          << e.what();
    }
  });
}

}  // namespace
}  // namespace xdit::parallel
