#include "serial_comparison.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel/communicator.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "process_group_harness.hpp"
#include "support/rounding.hpp"

namespace xdit::parallel::testing {

using pipelines::DitPipeline;
using pipelines::GenerationResult;

using xdit::testing::max_difference;
using xdit::testing::scaled_difference;

SerialReference serial_reference(const io::ModelFolder& model,
                                 const pipelines::PipelineOptions& options,
                                 const pipelines::GenerationRequest& request, Agreement agreement) {
  SerialReference reference{DitPipeline::load(model, options).generate(request)};
  pipelines::PipelineOptions in_float64 = options;
  in_float64.dtype = at::kDouble;
  pipelines::GenerationRequest latents_only = request;
  latents_only.decode = false;
  const at::Tensor latents64 = DitPipeline::load(model, in_float64).generate(latents_only).latents;
  const at::Tensor& latents = reference.result.latents;
  reference.tolerance = agreement == Agreement::kOfScale
                            ? xdit::testing::scaled_reorder_bound(latents, latents64)
                            : xdit::testing::measured_reorder_bound(latents, latents64);
  return reference;
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

ParallelConfig pipefusion(int stages, int patches, int warmup) {
  ParallelConfig config;
  config.pipefusion_degree = stages;
  config.num_pipeline_patch = patches;
  config.warmup_steps = warmup;
  return config;
}

// Square, on the built-in model: 8 × 8 patches.
pipelines::GenerationRequest square_request() {
  pipelines::GenerationRequest request;
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
pipelines::GenerationRequest wide_request() {
  pipelines::GenerationRequest request = square_request();
  request.prompts = {"a lighthouse at night, waves"};
  request.images_per_prompt = 2;
  request.height = 128;
  request.width = 192;
  request.num_inference_steps = 2;
  request.seed = 23;
  return request;
}

pipelines::GenerationRequest mmdit_request(double guidance) {
  pipelines::GenerationRequest request = square_request();
  request.guidance_scale = guidance;
  request.seed = 13;
  request.max_sequence_length = 16;
  return request;
}

void expect_serial_result(const std::filesystem::path& folder, const ParallelConfig& config,
                          const pipelines::GenerationRequest& request, const SerialCheck& check) {
  run_process_group(
      config,
      [&](Communicator& comm, int rank) {
        const io::ModelFolder model(folder);
        pipelines::PipelineOptions options = check.options;
        if (check.group.device.is_cuda())
          options.device = rank_device(check.group, rank);
        const DitPipeline pipeline = DitPipeline::load(model, options, comm);
        const GenerationResult result = pipeline.generate(request, check.callbacks);
        ASSERT_TRUE(result.latents.defined());
        EXPECT_EQ(result.step_seconds.size(), static_cast<size_t>(request.num_inference_steps));
        if (check.on_rank)
          check.on_rank(comm, pipeline, result);
        const std::vector<at::Tensor> everyone =
            comm.world().all_gather(result.latents.contiguous());
        if (rank != 0)
          return;
        for (size_t r = 1; r < everyone.size(); ++r)
          EXPECT_TRUE(at::equal(everyone[r], result.latents))
              << "rank " << r << " differs from rank 0";

        const SerialReference reference =
            serial_reference(model, check.options, request, check.agreement);
        const GenerationResult& serial = reference.result;
        ASSERT_EQ(result.latents.sizes(), serial.latents.sizes());
        const double difference = check.agreement == Agreement::kOfScale
                                      ? scaled_difference(result.latents, serial.latents)
                                      : max_difference(result.latents, serial.latents);
        EXPECT_TRUE(std::isfinite(difference)) << config.describe();
        EXPECT_LE(difference, check.tolerance.value_or(reference.tolerance))
            << config.describe() << ", warm-up " << config.warmup_steps;
        if (request.decode) {
          ASSERT_TRUE(result.images.defined());
          ASSERT_EQ(result.images.sizes(), serial.images.sizes());
          // Latents that differ by rounding may round to a neighbouring 8-bit
          // level, not further.
          EXPECT_LE(
              (result.images.to(at::kInt) - serial.images.to(at::kInt)).abs().max().item<int>(), 1);
        }
      },
      check.group);
}

}  // namespace xdit::parallel::testing
