#pragma once
// How PipeFusion cuts the model and the image: the transformer's layers into
// contiguous stages, one per pipeline rank, and the latent's token rows into
// horizontal patches that flow through the stages one after another. The
// same arithmetic serves the check before any process starts
// (parallel::validate), the load (which layers a rank reads) and the runner.

#include <cstdint>
#include <vector>

#include "models/dit.hpp"
#include "models/embeddings.hpp"
#include "parallel/parallel_config.hpp"

namespace xdit::parallel {

// Layers per stage: --attn_layer_num_for_pp when given, else an even split
// whose remainder goes one layer each to the first stages (xDiT gives every
// stage ceil(L / N) and the last what is left, which can leave it empty, e.g.
// 4 layers over 3 stages). UsageError when the list does not fit.
std::vector<int> stage_layer_counts(const ParallelConfig& config, int num_layers);

// The part of a `num_layers` transformer that pipeline stage `stage` holds:
// its layers, the patch embedding on the first stage, the output layer on
// the last.
models::DitStage pipeline_stage(const ParallelConfig& config, int num_layers, int stage);

// The heights (in token rows) of `patches` bands of `rows` rows, top first:
// uneven heights are allowed, the first `rows % patches` bands are one row
// taller. UsageError unless 1 <= patches <= rows.
std::vector<int64_t> patch_heights(int64_t rows, int patches);

// The bands of patch_heights over `grid` (a whole grid).
std::vector<models::PatchRows> patch_bands(const models::PatchRows& grid, int patches);

}  // namespace xdit::parallel
