#pragma once
// Prompt accuracy: the share of generated images that show what their
// caption asks for, graded by data/scene_check without a human, over a
// fixed list of scene prompts. This project's counterpart of the FID on
// COCO that xDiT's papers report per parallel method.

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <string>
#include <vector>

#include "data/scene.hpp"

namespace xdit::bench {

// The fixed prompt list: scenes drawn from a seed of their own (not the one
// train-builtin learns from), the same on every machine.
std::vector<data::Scene> quality_scenes(size_t count);
std::vector<std::string> captions_of(const std::vector<data::Scene>& scenes);

struct PromptAccuracy {
  int correct = 0;
  int total = 0;
  std::vector<std::string> misses;  // "caption: why", one per wrong image
  double percent() const { return total > 0 ? 100.0 * correct / total : 0.0; }
};

// images: uint8 [N, H, W, 3], image i showing scenes[i % scenes.size()]
// (one batch of the list per seed). UsageError when N is not a multiple.
PromptAccuracy prompt_accuracy(const at::Tensor& images, const std::vector<data::Scene>& scenes);

}  // namespace xdit::bench
