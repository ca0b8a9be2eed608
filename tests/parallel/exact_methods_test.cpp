// Every exact parallel method, alone and in products, gives the serial
// run's final latents (float32, within 1e-4 of their scale) on real process
// groups, on two model shapes. Each request has prompts of different lengths with guidance,
// so that the cross-attention masks (and the empty negative prompt's mask)
// differ between the rows that the methods split.

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "parallel/synchronous_runner.hpp"
#include "pipelines/pixart_pipeline.hpp"
#include "pixart_test_models.hpp"
#include "process_group_harness.hpp"

namespace xdit::parallel {
namespace {

using pipelines::GenerationRequest;
using pipelines::GenerationResult;
using pipelines::PixArtPipeline;
using testing::run_process_group;

// Of the latents' scale. The random-weight models' noise predictions do not
// match the noise, so DPM-Solver's data predictions (divided by alpha_t,
// ~0.006 at the first step) drive the final latents to magnitudes of ~10^3,
// where one float32 ulp is already ~1e-4; summation-order differences between
// methods then show up as ~1e-3 absolute, ~1e-6 of the scale. A wrong split
// or exchange gives errors of the scale itself.
constexpr double kTolerance = 1e-4;

// max |a - b| over the scale of `expected` (at least 1).
double scaled_difference(const at::Tensor& actual, const at::Tensor& expected) {
  const double scale = std::max(1.0, expected.abs().max().item<double>());
  return (actual.to(at::kFloat) - expected.to(at::kFloat)).abs().max().item<double>() / scale;
}

// Square, on the built-in model: 8 × 8 patches.
GenerationRequest square_request() {
  GenerationRequest request;
  request.prompts = {"a small red house by a lake", "fog"};
  request.height = 128;
  request.width = 128;
  request.num_inference_steps = 3;
  request.guidance_scale = 4.5;
  request.use_resolution_binning = false;
  request.seed = 11;
  request.max_sequence_length = 32;
  request.decode = false;
  return request;
}

// Not square, on the six-head model: 8 × 12 patches, so three sequence ranks
// hold 32 tokens each and two of the runs start mid-row.
GenerationRequest wide_request() {
  GenerationRequest request = square_request();
  request.prompts = {"a lighthouse at night, waves"};
  request.images_per_prompt = 2;
  request.height = 128;
  request.width = 192;
  request.num_inference_steps = 2;
  request.seed = 23;
  return request;
}

ParallelConfig mesh(int data, int cfg, int ulysses, int ring, int tensor) {
  ParallelConfig config;
  config.data_degree = data;
  config.cfg_degree = cfg;
  config.ulysses_degree = ulysses;
  config.ring_degree = ring;
  config.tensor_degree = tensor;
  return config;
}

// Runs `request` on a group with `config` and checks on rank 0 that the
// whole batch's latents (and images, when decoded) are the serial run's, and
// that every rank holds the same latents.
void expect_serial_result(const std::filesystem::path& folder, const ParallelConfig& config,
                          const GenerationRequest& request) {
  run_process_group(config, [&](Communicator& comm, int rank) {
    const io::ModelFolder model(folder);
    const PixArtPipeline pipeline = PixArtPipeline::load(model, {}, comm);
    const GenerationResult result = pipeline.generate(request);
    ASSERT_TRUE(result.latents.defined());
    EXPECT_EQ(result.step_seconds.size(), static_cast<size_t>(request.num_inference_steps));
    const std::vector<at::Tensor> everyone = comm.world().all_gather(result.latents.contiguous());
    if (rank != 0)
      return;
    for (size_t r = 1; r < everyone.size(); ++r)
      EXPECT_TRUE(at::equal(everyone[r], result.latents)) << "rank " << r << " differs from rank 0";

    const GenerationResult serial = PixArtPipeline::load(model).generate(request);
    ASSERT_EQ(result.latents.sizes(), serial.latents.sizes());
    EXPECT_LE(scaled_difference(result.latents, serial.latents), kTolerance) << config.describe();
    if (request.decode) {
      ASSERT_TRUE(result.images.defined());
      ASSERT_EQ(result.images.sizes(), serial.images.sizes());
      // Latents within 1e-4 may round to a neighbouring 8-bit level.
      EXPECT_LE((result.images.to(at::kInt) - serial.images.to(at::kInt)).abs().max().item<int>(),
                1);
    }
  });
}

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
    const PixArtPipeline pipeline = PixArtPipeline::load(folder, {}, comm);
    auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
    const at::Tensor latent = at::randn({2, 4, 16, 24}, generator);
    PixArtInputs inputs;
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
    const at::Tensor serial = PixArtPipeline::load(folder).transformer().forward(
        latent, inputs.text, timestep, inputs.text_mask, inputs.resolution, inputs.aspect_ratio);
    ASSERT_EQ(output.sizes(), serial.sizes());
    EXPECT_LE((output - serial).abs().max().item<double>(), 1e-5);
  });
}

// ---- refusals ----

TEST(ExactMethods, EveryRankRefusesAMeshTheRequestCannotUse) {
  // 4 heads do not split over 3 Ulysses ranks: the same UsageError
  // everywhere, before any rank waits for another.
  run_process_group(mesh(1, 1, 3, 1, 1), [](Communicator& comm, int) {
    const PixArtPipeline pipeline =
        PixArtPipeline::load(io::ModelFolder(testing::tiny_pixart_folder()), {}, comm);
    try {
      pipeline.generate(square_request());
      ADD_FAILURE() << "expected a UsageError";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("ulysses degree 3"), std::string::npos) << e.what();
    }
  });
}

TEST(ExactMethods, PipeFusionIsRefusedAtLoad) {
  ParallelConfig config;
  config.pipefusion_degree = 2;
  run_process_group(config, [](Communicator& comm, int) {
    EXPECT_THROW(PixArtPipeline::load(io::ModelFolder(testing::tiny_pixart_folder()), {}, comm),
                 UsageError);
  });
}

}  // namespace
}  // namespace xdit::parallel
