#pragma once
// The check every parallel method's test makes: a generation on a real
// process group gives the serial run's final latents (and images). Shared by
// the exact methods and by the stale ones with full warm-up.

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>

#include "parallel/communicator.hpp"
#include "parallel/parallel_config.hpp"
#include "pipelines/generation.hpp"
#include "pipelines/pixart_pipeline.hpp"

namespace xdit::parallel::testing {

// Of the latents' scale. The random-weight models' noise predictions do not
// match the noise, so DPM-Solver's data predictions (divided by alpha_t,
// ~0.006 at the first step) drive the final latents to magnitudes of ~10^3,
// where one float32 ulp is already ~1e-4; summation-order differences between
// methods then show up as ~1e-3 absolute, ~1e-6 of the scale. A wrong split
// or exchange gives errors of the scale itself.
inline constexpr double kSerialTolerance = 1e-4;

// max |a - b| over the scale of `expected` (at least 1).
double scaled_difference(const at::Tensor& actual, const at::Tensor& expected);

// How expect_serial_result measures the difference.
enum class Agreement {
  kOfScale,   // scaled_difference
  kAbsolute,  // max |a - b|
};

// Square, on the built-in model: 8 × 8 patches, two prompts of different
// lengths with guidance, so that the cross-attention masks (and the empty
// negative prompt's mask) differ between the rows that the methods split.
pipelines::GenerationRequest square_request();
// Not square, for the six-head model: 8 × 12 patches, two images of one prompt.
pipelines::GenerationRequest wide_request();

// How a run is compared with serial, and what a test adds on each rank.
struct SerialCheck {
  double tolerance = kSerialTolerance;
  Agreement agreement = Agreement::kOfScale;
  pipelines::PipelineOptions options;  // of the serial and the parallel pipelines
  // Passed to the parallel generation on every rank.
  pipelines::GenerationCallbacks callbacks;
  // Every rank, after its generation and before the comparison.
  std::function<void(Communicator&, const pipelines::PixArtPipeline&,
                     const pipelines::GenerationResult&)>
      on_rank;
};

// Runs `request` on a group with `config` and checks on rank 0 that the
// whole batch's latents (and images, when decoded) are the serial run's
// within `check.tolerance` (of their scale, or absolutely), and that every
// rank holds the same latents.
void expect_serial_result(const std::filesystem::path& folder, const ParallelConfig& config,
                          const pipelines::GenerationRequest& request,
                          const SerialCheck& check = {});

}  // namespace xdit::parallel::testing
