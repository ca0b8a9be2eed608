#pragma once
// Training batches made at run time: scenes drawn from a seed, rendered, and
// scaled to the VAE's range, with their captions.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace xdit::train {

struct SceneBatch {
  at::Tensor images;  // float32 [B, 3, size, size] in [-1, 1]
  std::vector<std::string> captions;
};

// Scenes number `indices` of the sequence `seed` (data::sample_scene).
SceneBatch scene_batch(uint64_t seed, const std::vector<uint64_t>& indices, int64_t size);

}  // namespace xdit::train
