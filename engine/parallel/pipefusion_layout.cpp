#include "parallel/pipefusion_layout.hpp"

#include <numeric>
#include <string>

#include "core/error.hpp"

namespace xdit::parallel {

std::vector<int> stage_layer_counts(const ParallelConfig& config, int num_layers) {
  const int stages = config.pipefusion_degree;
  if (stages < 1 || stages > num_layers) {
    throw UsageError("pipefusion degree " + std::to_string(stages) + " does not fit the " +
                     std::to_string(num_layers) +
                     " transformer layers: use a --pipefusion_parallel_degree between 1 and " +
                     std::to_string(num_layers));
  }
  const std::vector<int>& given = config.attn_layer_num_for_pp;
  if (given.empty()) {
    std::vector<int> counts(static_cast<size_t>(stages), num_layers / stages);
    for (int s = 0; s < num_layers % stages; ++s)
      ++counts[static_cast<size_t>(s)];
    return counts;
  }
  bool positive = true;
  for (int layers : given)
    positive = positive && layers >= 1;
  if (static_cast<int>(given.size()) != stages || !positive ||
      std::accumulate(given.begin(), given.end(), 0) != num_layers) {
    std::string list;
    for (int layers : given) {
      if (!list.empty())
        list += ',';
      list += std::to_string(layers);
    }
    throw UsageError("--attn_layer_num_for_pp " + list + " must give each of the " +
                     std::to_string(stages) + " stages at least one layer and add up to the " +
                     std::to_string(num_layers) + " transformer layers");
  }
  return given;
}

models::DitStage pipeline_stage(const ParallelConfig& config, int num_layers, int stage) {
  const std::vector<int> counts = stage_layer_counts(config, num_layers);
  if (stage < 0 || stage >= static_cast<int>(counts.size())) {
    throw UsageError("pipeline stage " + std::to_string(stage) + " of " +
                     std::to_string(counts.size()) + " does not exist");
  }
  models::DitStage part;
  part.first_layer = std::accumulate(counts.begin(), counts.begin() + stage, 0);
  part.last_layer = part.first_layer + counts[static_cast<size_t>(stage)];
  part.embeds_input = stage == 0;
  part.owns_output = stage + 1 == static_cast<int>(counts.size());
  return part;
}

std::vector<int64_t> patch_heights(int64_t rows, int patches) {
  if (patches < 1 || patches > rows) {
    throw UsageError("--num_pipeline_patch " + std::to_string(patches) + " does not fit the " +
                     std::to_string(rows) +
                     " latent rows (in patches): a patch is at least one row; use between 1 and " +
                     std::to_string(rows) + " patches");
  }
  std::vector<int64_t> heights(static_cast<size_t>(patches), rows / patches);
  for (int64_t p = 0; p < rows % patches; ++p)
    ++heights[static_cast<size_t>(p)];
  return heights;
}

std::vector<models::PatchRows> patch_bands(const models::PatchRows& grid, int patches) {
  std::vector<models::PatchRows> bands;
  int64_t first = 0;
  for (int64_t height : patch_heights(grid.num_rows, patches)) {
    bands.push_back(models::PatchRows::band(grid.grid_height, grid.grid_width, first, height));
    first += height;
  }
  return bands;
}

}  // namespace xdit::parallel
