#include "train/scene_batch.hpp"

#include <ATen/ATen.h>

#include "data/scene.hpp"
#include "data/scene_render.hpp"

namespace xdit::train {

SceneBatch scene_batch(uint64_t seed, const std::vector<uint64_t>& indices, int64_t size) {
  SceneBatch batch;
  std::vector<at::Tensor> images;
  for (const uint64_t index : indices) {
    const data::Scene scene = data::sample_scene(seed, index);
    images.push_back(data::render(scene, size, size).permute({2, 0, 1}));
    batch.captions.push_back(data::caption(scene));
  }
  batch.images = at::stack(images).to(at::kFloat).div_(127.5).sub_(1.0);
  return batch;
}

}  // namespace xdit::train
