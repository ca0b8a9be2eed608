#include "models/dit_loader.hpp"

#include "core/error.hpp"
#include "models/flux_transformer.hpp"
#include "models/pixart_transformer.hpp"
#include "models/sd3_transformer.hpp"

namespace xdit::models {

DitFamily dit_family(const std::string& class_name, const std::string& source) {
  if (class_name == "PixArtTransformer2DModel" || class_name == "Transformer2DModel")
    return DitFamily::kPixArt;
  if (class_name == "SD3Transformer2DModel")
    return DitFamily::kSD3;
  if (class_name == "FluxTransformer2DModel")
    return DitFamily::kFlux;
  throw ConfigError(source, "transformer",
                    "is a '" + class_name +
                        "'; this engine runs PixArtTransformer2DModel, SD3Transformer2DModel and "
                        "FluxTransformer2DModel");
}

std::unique_ptr<DiffusionTransformer> load_dit(DitFamily family, const io::Config& config,
                                               const io::Weights& weights, const DitStage& stage,
                                               const TensorShard& shard) {
  switch (family) {
    case DitFamily::kPixArt:
      return std::make_unique<PixArtTransformer>(PixArtConfig::from_config(config), weights, stage,
                                                 shard);
    case DitFamily::kSD3:
      return std::make_unique<SD3Transformer>(SD3Config::from_config(config), weights, stage,
                                              shard);
    case DitFamily::kFlux:
      return std::make_unique<FluxTransformer>(FluxConfig::from_config(config), weights, stage,
                                               shard);
  }
  throw UsageError("unknown transformer family");
}

int64_t dit_num_layers(DitFamily family, const io::Config& config) {
  switch (family) {
    case DitFamily::kPixArt:
      return PixArtConfig::from_config(config).num_layers;
    case DitFamily::kSD3:
      return SD3Config::from_config(config).num_layers;
    case DitFamily::kFlux: {
      const FluxConfig flux = FluxConfig::from_config(config);
      return flux.num_layers + flux.num_single_layers;
    }
  }
  throw UsageError("unknown transformer family");
}

}  // namespace xdit::models
