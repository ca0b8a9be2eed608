#pragma once
// The one place that maps a diffusers transformer class to this engine's
// model: a pipeline (or a test) names the class its model_index.json gives
// and gets a DiffusionTransformer, whatever the family.

#include <memory>
#include <string>

#include "io/config.hpp"
#include "io/weight_source.hpp"
#include "models/dit.hpp"
#include "models/tensor_shard.hpp"

namespace xdit::models {

enum class DitFamily { kPixArt, kSD3, kFlux };

// The family of a diffusers transformer class (PixArtTransformer2DModel or
// the older Transformer2DModel, SD3Transformer2DModel,
// FluxTransformer2DModel); ConfigError naming `source` and the class for
// any other.
DitFamily dit_family(const std::string& class_name, const std::string& source);

// Builds `stage` of the transformer of `family` from its config.json and
// weights, holding the heads and MLP width of `shard`.
std::unique_ptr<DiffusionTransformer> load_dit(DitFamily family, const io::Config& config,
                                               const io::Weights& weights,
                                               const DitStage& stage = {},
                                               const TensorShard& shard = {});

// The number of blocks in the list of a transformer config (Flux: double
// plus single), read without loading it.
int64_t dit_num_layers(DitFamily family, const io::Config& config);

}  // namespace xdit::models
