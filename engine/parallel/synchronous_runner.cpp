#include "parallel/synchronous_runner.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"
#include "parallel/usp_attention.hpp"

namespace xdit::parallel {

TokenRun token_run(const models::PatchRows& grid, int index, int ranks) {
  const int64_t tokens = grid.num_tokens();
  if (ranks < 1 || index < 0 || index >= ranks || tokens % ranks != 0) {
    throw UsageError("the " + std::to_string(tokens) + " image tokens (" +
                     std::to_string(grid.num_rows) + " × " + std::to_string(grid.grid_width) +
                     " patches) do not split evenly over " + std::to_string(ranks) +
                     " sequence ranks");
  }
  TokenRun run;
  run.count = tokens / ranks;
  run.first = run.count * index;
  const int64_t first_row = run.first / grid.grid_width;
  const int64_t end_row = (run.first + run.count + grid.grid_width - 1) / grid.grid_width;
  run.rows =
      models::PatchRows::band(grid.grid_height, grid.grid_width, first_row, end_row - first_row);
  return run;
}

SynchronousRunner::SynchronousRunner(Group& sequence, Group& ulysses, Group& ring)
    : sequence_(sequence) {
  if (sequence.size() == 1) {
    attention_ = std::make_unique<models::LocalAttention>();
  } else {
    attention_ = std::make_unique<UspAttention>(ulysses, ring);
  }
}

at::Tensor SynchronousRunner::predict(const models::PixArtTransformer& model,
                                      const at::Tensor& input, const at::Tensor& timestep,
                                      const PixArtInputs& inputs) {
  const int64_t batch = input.size(0);
  const int64_t p = model.config().patch_size;
  const models::PatchRows grid = model.patch_grid(input.size(2), input.size(3));
  const TokenRun run = token_run(grid, sequence_.index(), sequence_.size());
  const models::PixArtConditioning conditioning =
      model.condition(timestep.reshape({1}).expand({batch}), inputs.text, inputs.text_mask,
                      inputs.resolution, inputs.aspect_ratio);
  const at::Tensor band = input.narrow(2, run.rows.first_row * p, run.rows.num_rows * p);
  const at::Tensor tokens =
      model.embed(band, run.rows)
          .narrow(1, run.first - run.rows.first_row * grid.grid_width, run.count);
  const at::Tensor hidden = model.run_blocks(tokens, conditioning, *attention_);
  const at::Tensor patches = sequence_.all_gather(model.output_patches(hidden, conditioning), 1);
  return models::unpatchify(patches, grid, p, model.config().out_channels);
}

at::Tensor SynchronousRunner::denoise(const models::PixArtTransformer& model, at::Tensor latents,
                                      const PixArtInputs& inputs, const DenoiseLoop& loop) {
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
