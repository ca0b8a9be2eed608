#include "parallel/distrifusion_runner.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"
#include "parallel/distrifusion_attention.hpp"

namespace xdit::parallel {

DistriFusionRunner::DistriFusionRunner(Group& group, int warmup_steps)
    : group_(group), warmup_steps_(warmup_steps) {}

at::Tensor DistriFusionRunner::denoise(const models::DiffusionTransformer& model,
                                       at::Tensor latents, const models::DitInputs& inputs,
                                       const DenoiseLoop& loop) {
  const schedulers::Scheduler& scheduler = *loop.scheduler;
  const at::Tensor& timesteps = scheduler.timesteps();
  const int64_t steps = timesteps.size(0);
  const int64_t p = model.shape().patch_size;
  const models::PatchRows grid = model.patch_grid(latents.size(2), latents.size(3));
  const int ranks = group_.size();
  if (grid.grid_height % ranks != 0) {  // parallel::validate explains it to users
    throw UsageError("DistriFusion: " + std::to_string(ranks) + " ranks do not divide " +
                     std::to_string(grid.grid_height) + " latent rows");
  }
  const int64_t band_rows = grid.grid_height / ranks;
  const models::PatchRows rows = models::PatchRows::band(grid.grid_height, grid.grid_width,
                                                         band_rows * group_.index(), band_rows);
  at::Tensor band = latents.narrow(2, rows.first_row * p, band_rows * p).contiguous();

  DistriFusionAttention attention(group_);
  schedulers::SchedulerState state;
  const int64_t batch = loop.model_input(band).size(0);
  StepClock clock(latents.device());
  for (int64_t i = 0; i < steps; ++i) {
    const bool synchronous = i < warmup_steps_;
    const bool next_is_stale = i + 1 < steps && i + 1 >= warmup_steps_;
    attention.begin_step(rows.first_row * grid.grid_width, grid.num_tokens(), synchronous,
                         next_is_stale);
    const at::Tensor input =
        loop.model_input(scheduler.scale_model_input(band, i)).to(model.dtype());
    const std::unique_ptr<models::DitStep> conditioning =
        model.condition(timesteps[i].reshape({1}).expand({batch}), inputs);
    const models::TokenSpan span = models::TokenSpan::of_rows(rows);
    const models::DitHidden hidden =
        model.run_blocks(model.embed(input, span, *conditioning), span, *conditioning, attention);
    const at::Tensor output = model.finish(hidden.image, *conditioning, rows).to(at::kFloat);
    band = scheduler.step(loop.noise(output), i, band, state);
    if (loop.on_step || i + 1 == steps)
      latents = group_.all_gather(band, 2);
    if (loop.on_step) {
      loop.on_step(i + 1, clock.lap(), latents);
    }
  }
  return latents;
}

}  // namespace xdit::parallel
