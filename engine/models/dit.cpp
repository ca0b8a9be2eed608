#include "models/dit.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"

namespace xdit::models {

DitStage DitStage::resolved(int64_t num_layers, const std::string& model) const {
  DitStage stage = *this;
  stage.last_layer = last_layer.value_or(num_layers);
  if (first_layer < 0 || first_layer >= *stage.last_layer || *stage.last_layer > num_layers) {
    throw UsageError(model + " stage layers [" + std::to_string(first_layer) + ", " +
                     std::to_string(*stage.last_layer) + ") are not a non-empty range of the " +
                     std::to_string(num_layers) + " layers");
  }
  return stage;
}

bool DitStage::is_whole(int64_t num_layers) const {
  return embeds_input && owns_output && first_layer == 0 &&
         last_layer.value_or(num_layers) == num_layers;
}

TokenSpan TokenSpan::whole(const PatchRows& grid) {
  return {PatchRows::whole(grid.grid_height, grid.grid_width), 0, grid.num_tokens()};
}

TokenSpan TokenSpan::of_rows(const PatchRows& rows) {
  return {PatchRows::whole(rows.grid_height, rows.grid_width), rows.first_row * rows.grid_width,
          rows.num_tokens()};
}

PatchRows TokenSpan::rows() const {
  const int64_t width = grid.grid_width;
  const int64_t first_row = first / width;
  const int64_t end_row = (first + count + width - 1) / width;
  return PatchRows::band(grid.grid_height, width, first_row, end_row - first_row);
}

PatchRows DiffusionTransformer::patch_grid(int64_t latent_height, int64_t latent_width) const {
  const int64_t p = shape().patch_size;
  if (latent_height <= 0 || latent_width <= 0 || latent_height % p != 0 || latent_width % p != 0) {
    throw UsageError("a " + std::to_string(latent_height) + " x " + std::to_string(latent_width) +
                     " latent does not split into " + std::to_string(p) + " x " +
                     std::to_string(p) + " patches");
  }
  return PatchRows::whole(latent_height / p, latent_width / p);
}

at::Tensor DiffusionTransformer::finish(const at::Tensor& image, const DitStep& step,
                                        const PatchRows& rows) const {
  return unpatchify(output_patches(image, step), rows);
}

at::Tensor DiffusionTransformer::predict(const at::Tensor& latent, const at::Tensor& timestep,
                                         const DitInputs& inputs,
                                         AttentionStrategy* attention) const {
  if (!stage().is_whole(shape().num_layers))
    throw UsageError("predict needs the whole transformer; this instance holds a stage");
  if (!latent.defined() || latent.dim() != 4 || latent.size(1) != shape().latent_channels) {
    throw UsageError("the latent must be [B, " + std::to_string(shape().latent_channels) +
                     ", H, W], got " + (latent.defined() ? c10::str(latent.sizes()) : "none"));
  }
  const PatchRows grid = patch_grid(latent.size(2), latent.size(3));
  const TokenSpan span = TokenSpan::whole(grid);
  const std::unique_ptr<DitStep> step = condition(timestep, inputs);
  if (step->batch() != latent.size(0)) {
    throw UsageError("the latent holds " + std::to_string(latent.size(0)) +
                     " samples but the text and timestep " + std::to_string(step->batch()));
  }
  LocalAttention local;
  DitHidden hidden = embed(latent, span, *step);
  hidden = run_blocks(std::move(hidden), span, *step, attention ? *attention : local);
  return finish(hidden.image, *step, grid);
}

}  // namespace xdit::models
