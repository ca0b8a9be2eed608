#include "bench/prompt_accuracy.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"
#include "data/scene_check.hpp"

namespace xdit::bench {
namespace {

// Apart from train-builtin's seeds (1 by default, and small numbers).
constexpr uint64_t kQualitySeed = 20261205;

}  // namespace

std::vector<data::Scene> quality_scenes(size_t count) {
  std::vector<data::Scene> scenes;
  for (size_t i = 0; i < count; ++i)
    scenes.push_back(data::sample_scene(kQualitySeed, i));
  return scenes;
}

std::vector<std::string> captions_of(const std::vector<data::Scene>& scenes) {
  std::vector<std::string> captions;
  for (const auto& scene : scenes)
    captions.push_back(data::caption(scene));
  return captions;
}

PromptAccuracy prompt_accuracy(const at::Tensor& images, const std::vector<data::Scene>& scenes) {
  if (scenes.empty() || images.dim() != 4 || images.size(0) % static_cast<int64_t>(scenes.size())) {
    throw UsageError("prompt_accuracy: " + std::to_string(images.dim() == 4 ? images.size(0) : 0) +
                     " images are not whole copies of " + std::to_string(scenes.size()) +
                     " prompts");
  }
  PromptAccuracy accuracy;
  for (int64_t i = 0; i < images.size(0); ++i) {
    const data::Scene& scene = scenes[static_cast<size_t>(i) % scenes.size()];
    const data::SceneCheck check = data::check_scene(images[i], scene);
    ++accuracy.total;
    if (check.correct)
      ++accuracy.correct;
    else
      accuracy.misses.push_back(data::caption(scene) + ": " + check.why);
  }
  return accuracy;
}

}  // namespace xdit::bench
