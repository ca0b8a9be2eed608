#pragma once
// The check every parallel method's test makes: a generation on a real
// process group gives the serial run's final latents (and images). Shared by
// the exact methods and by the stale ones with full warm-up.

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <optional>

#include "parallel/communicator.hpp"
#include "parallel/parallel_config.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "pipelines/generation.hpp"
#include "process_group_harness.hpp"

namespace xdit::parallel::testing {

// How expect_serial_result measures the difference.
enum class Agreement {
  kOfScale,   // support/rounding.hpp's scaled_difference
  kAbsolute,  // max |a - b|
};

// A serial generation and how far a parallel run of it may lie. The methods
// sum in other orders than serial (split heads, rings of partial attention,
// tensor-parallel partial sums, smaller batches), so their float32 results
// differ by rounding: the bar is the serial run's own float32 rounding,
// measured against the same generation with the transformer and the text
// encoder in float64 (support/rounding.hpp's measured_reorder_bound; about
// 1e-6 of the latents' scale). A wrong split or exchange gives errors of the
// scale itself.
struct SerialReference {
  pipelines::GenerationResult result;
  double tolerance = 0;  // in the units of the Agreement asked for
};
SerialReference serial_reference(const io::ModelFolder& model,
                                 const pipelines::PipelineOptions& options,
                                 const pipelines::GenerationRequest& request,
                                 Agreement agreement = Agreement::kOfScale);

// The degrees of the exact methods, in this order.
ParallelConfig mesh(int data, int cfg, int ulysses, int ring, int tensor);
// PipeFusion in `stages` stages and `patches` patches after `warmup` steps.
ParallelConfig pipefusion(int stages, int patches, int warmup);

// Square, on the built-in model: 8 × 8 patches, two prompts of different
// lengths with guidance, so that the cross-attention masks (and the empty
// negative prompt's mask) differ between the rows that the methods split.
pipelines::GenerationRequest square_request();
// Not square, for the six-head model: 8 × 12 patches, two images of one prompt.
pipelines::GenerationRequest wide_request();
// For the built-in MMDiTs: 8 × 8 tokens (128 px at VAE factor 8 and 2 × 2
// patches), two prompts of different lengths, three steps, `guidance` (SD3:
// classifier-free; Flux dev: the model's input).
pipelines::GenerationRequest mmdit_request(double guidance);

// How a run is compared with serial, and what a test adds on each rank.
struct SerialCheck {
  std::optional<double> tolerance;  // unset: the serial_reference's
  Agreement agreement = Agreement::kOfScale;
  pipelines::PipelineOptions options;  // of the serial and the parallel pipelines
  // How the group is formed; its device, when a GPU, is also the parallel
  // pipelines' (one GPU per rank unless host-staged).
  GroupRunOptions group;
  // Passed to the parallel generation on every rank.
  pipelines::GenerationCallbacks callbacks;
  // Every rank, after its generation and before the comparison.
  std::function<void(Communicator&, const pipelines::DitPipeline&,
                     const pipelines::GenerationResult&)>
      on_rank;
};

// Runs `request` on a group with `config` and checks on rank 0 that the
// whole batch's latents (and images, when decoded) are the serial run's
// within the tolerance (of their scale, or absolutely), and that every rank
// holds the same latents.
void expect_serial_result(const std::filesystem::path& folder, const ParallelConfig& config,
                          const pipelines::GenerationRequest& request,
                          const SerialCheck& check = {});

}  // namespace xdit::parallel::testing
