#include "parallel/synchronous_runner.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"
#include "parallel/usp_attention.hpp"

namespace xdit::parallel {

models::TokenSpan token_run(const models::PatchRows& grid, int index, int ranks) {
  const int64_t tokens = grid.num_tokens();
  if (ranks < 1 || index < 0 || index >= ranks || tokens % ranks != 0) {
    throw UsageError("the " + std::to_string(tokens) + " image tokens (" +
                     std::to_string(grid.num_rows) + " × " + std::to_string(grid.grid_width) +
                     " patches) do not split evenly over " + std::to_string(ranks) +
                     " sequence ranks");
  }
  const int64_t count = tokens / ranks;
  return {grid, count * index, count};
}

SynchronousRunner::SynchronousRunner(Group& sequence, Group& ulysses, Group& ring)
    : sequence_(sequence) {
  if (sequence.size() == 1) {
    attention_ = std::make_unique<models::LocalAttention>();
  } else {
    attention_ = std::make_unique<UspAttention>(ulysses, ring);
  }
}

at::Tensor SynchronousRunner::predict(const models::DiffusionTransformer& model,
                                      const at::Tensor& input, const at::Tensor& timestep,
                                      const models::DitInputs& inputs) {
  const int64_t p = model.shape().patch_size;
  const models::PatchRows grid = model.patch_grid(input.size(2), input.size(3));
  const models::TokenSpan run = token_run(grid, sequence_.index(), sequence_.size());
  const models::PatchRows rows = run.rows();
  const std::unique_ptr<models::DitStep> step =
      model.condition(timestep.reshape({1}).expand({input.size(0)}), inputs);
  models::DitHidden hidden =
      model.embed(input.narrow(2, rows.first_row * p, rows.num_rows * p), run, *step);
  hidden = model.run_blocks(std::move(hidden), run, *step, *attention_);
  const at::Tensor patches = sequence_.all_gather(model.output_patches(hidden.image, *step), 1);
  return model.unpatchify(patches, grid);
}

at::Tensor SynchronousRunner::denoise(const models::DiffusionTransformer& model, at::Tensor latents,
                                      const models::DitInputs& inputs, const DenoiseLoop& loop) {
  const schedulers::Scheduler& scheduler = *loop.scheduler;
  const at::Tensor& timesteps = scheduler.timesteps();
  schedulers::SchedulerState state;
  StepClock clock(latents.device());
  for (int64_t i = 0; i < timesteps.size(0); ++i) {
    const at::Tensor input =
        loop.model_input(scheduler.scale_model_input(latents, i)).to(model.dtype());
    const at::Tensor output = predict(model, input, timesteps[i], inputs).to(at::kFloat);
    latents = scheduler.step(loop.noise(output), i, latents, state);
    if (loop.on_step) {
      loop.on_step(i + 1, clock.lap(), latents);
    }
  }
  return latents;
}

}  // namespace xdit::parallel
