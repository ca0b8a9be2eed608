// Every exact parallel method, alone and in products, gives the serial
// run's final latents (float32, within the serial run's own rounding, see
// serial_comparison.hpp) on real process groups, on two model shapes (the
// requests are in serial_comparison.hpp).

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "parallel/synchronous_runner.hpp"
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
using testing::square_request;
using testing::wide_request;

using testing::mesh;

void expect_serial_on_tiny(const ParallelConfig& config) {
  expect_serial_result(testing::tiny_pixart_folder(), config, square_request());
}

void expect_serial_on_six_heads(const ParallelConfig& config) {
  expect_serial_result(testing::six_head_pixart_folder(), config, wide_request());
}

// ---- one method at a time, built-in model ----

TEST(ExactMethods, CfgParallel) {
  expect_serial_on_tiny(mesh(1, 2, 1, 1, 1));
}

TEST(ExactMethods, DataParallelWithImagesGatheredOnRankZero) {
  GenerationRequest request = square_request();
  request.decode = true;
  expect_serial_result(testing::tiny_pixart_folder(), mesh(2, 1, 1, 1, 1), request);
}

TEST(ExactMethods, Ulysses) {
  expect_serial_on_tiny(mesh(1, 1, 2, 1, 1));
}

TEST(ExactMethods, Ring) {
  expect_serial_on_tiny(mesh(1, 1, 1, 2, 1));
}

TEST(ExactMethods, TensorParallel) {
  expect_serial_on_tiny(mesh(1, 1, 1, 1, 2));
}

// ---- products, built-in model ----

TEST(ExactMethods, CfgTimesUlysses) {
  expect_serial_on_tiny(mesh(1, 2, 2, 1, 1));
}

TEST(ExactMethods, UlyssesTimesRing) {
  expect_serial_on_tiny(mesh(1, 1, 2, 2, 1));
}

TEST(ExactMethods, CfgTimesTensor) {
  expect_serial_on_tiny(mesh(1, 2, 1, 1, 2));
}

TEST(ExactMethods, DataTimesRing) {
  expect_serial_on_tiny(mesh(2, 1, 1, 2, 1));
}

TEST(ExactMethods, TensorTimesUlysses) {
  expect_serial_on_tiny(mesh(1, 1, 2, 1, 2));
}

TEST(ExactMethods, DataTimesCfgTimesUlyssesTimesTensorOnEightRanks) {
  expect_serial_on_tiny(mesh(2, 2, 2, 1, 2));
}

// ---- the six-head model, a wide image ----

TEST(ExactMethodsSixHeads, UlyssesOfThreeSplittingRowsMidway) {
  expect_serial_on_six_heads(mesh(1, 1, 3, 1, 1));
}

TEST(ExactMethodsSixHeads, RingOfThreeSplittingRowsMidway) {
  expect_serial_on_six_heads(mesh(1, 1, 1, 3, 1));
}

TEST(ExactMethodsSixHeads, TensorOfThree) {
  expect_serial_on_six_heads(mesh(1, 1, 1, 1, 3));
}

TEST(ExactMethodsSixHeads, CfgTimesUlysses) {
  expect_serial_on_six_heads(mesh(1, 2, 2, 1, 1));
}

TEST(ExactMethodsSixHeads, TensorTimesRing) {
  expect_serial_on_six_heads(mesh(1, 1, 1, 2, 2));
}

TEST(ExactMethodsSixHeads, DataTimesCfgWithImages) {
  GenerationRequest request = wide_request();
  request.decode = true;
  expect_serial_result(testing::six_head_pixart_folder(), mesh(2, 2, 1, 1, 1), request);
}

TEST(ExactMethodsSixHeads, TransformerOutputUnderUlyssesTimesTensorIsSerials) {
  // The noise prediction itself (unit scale, unlike the final latents) for
  // one model batch: 6 heads over tensor 2 × Ulysses 3, runs starting mid-row.
  run_process_group(mesh(1, 1, 3, 1, 2), [](Communicator& comm, int rank) {
    const io::ModelFolder folder(testing::six_head_pixart_folder());
    const DitPipeline pipeline = DitPipeline::load(folder, {}, comm);
    auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
    const at::Tensor latent = at::randn({2, 4, 16, 24}, generator);
    models::DitInputs inputs;
    inputs.text = at::randn({2, 20, 64}, generator);
    inputs.text_mask =
        (at::arange(20).unsqueeze(0) < at::tensor({7, 15}).unsqueeze(1)).to(at::kLong);
    inputs.resolution = at::tensor({128.f, 192.f}).repeat({2, 1});
    inputs.aspect_ratio = at::full({2, 1}, 128.f / 192.f);
    const at::Tensor timestep = at::tensor(int64_t{500});
    const compat::InferenceGuard no_grad;
    SynchronousRunner runner(comm.group(Dim::kSequence), comm.group(Dim::kUlysses),
                             comm.group(Dim::kRing));
    const at::Tensor output = runner.predict(pipeline.transformer(), latent, timestep, inputs);
    if (rank != 0)
      return;
    const auto serial_forward = [&](at::ScalarType dtype) {
      pipelines::PipelineOptions options;
      options.dtype = dtype;
      return DitPipeline::load(folder, options).transformer().predict(latent, timestep, inputs);
    };
    const at::Tensor serial = serial_forward(at::kFloat);
    ASSERT_EQ(output.sizes(), serial.sizes());
    // Float32's rounding of the serial forward, measured against float64.
    EXPECT_LE(xdit::testing::max_difference(output, serial),
              xdit::testing::measured_reorder_bound(serial, serial_forward(at::kDouble)));
  });
}

// ---- absolute agreement ----

// With flow matching the latents stay at unit scale whatever the random
// model predicts, so the final latents can be compared absolutely, without
// DPM-Solver's amplification (support/rounding.hpp's scaled_difference).
TEST(ExactMethodsAbsolute, FlowMatchLatentsWithinSerialRounding) {
  testing::SerialCheck absolute;
  absolute.agreement = testing::Agreement::kAbsolute;
  absolute.options.scheduler_class = "FlowMatchEulerDiscreteScheduler";
  const GenerationRequest request = square_request();
  for (const ParallelConfig& config :
       {mesh(1, 2, 1, 1, 1), mesh(1, 1, 2, 1, 1), mesh(1, 1, 1, 2, 1), mesh(1, 1, 1, 1, 2)}) {
    expect_serial_result(testing::tiny_pixart_folder(), config, request, absolute);
  }
}

// ---- refusals ----

TEST(ExactMethods, EveryRankRefusesAMeshTheRequestCannotUse) {
  // 4 heads do not split over 3 Ulysses ranks: the same UsageError
  // everywhere, before any rank waits for another.
  run_process_group(mesh(1, 1, 3, 1, 1), [](Communicator& comm, int) {
    const DitPipeline pipeline =
        DitPipeline::load(io::ModelFolder(testing::tiny_pixart_folder()), {}, comm);
    try {
      pipeline.generate(square_request());
      ADD_FAILURE() << "expected a UsageError";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("ulysses degree 3"), std::string::npos) << e.what();
    }
  });
}

}  // namespace
}  // namespace xdit::parallel
