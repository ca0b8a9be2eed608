#include "test_models.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "io/config.hpp"
#include "io/safetensors_writer.hpp"
#include "io/synthetic_weights.hpp"
#include "models/pixart_transformer.hpp"
#include "pipelines/builtin_models.hpp"

namespace xdit::parallel::testing {
namespace {

std::filesystem::path test_cache() {
  return std::filesystem::path(::testing::TempDir()) / "xdit-parallel-methods";
}

nlohmann::json six_head_transformer_config() {
  return {{"_class_name", "PixArtTransformer2DModel"},
          {"num_attention_heads", 6},
          {"attention_head_dim", 16},
          {"in_channels", 4},
          {"out_channels", 4},
          {"num_layers", 3},
          {"cross_attention_dim", 96},
          {"attention_bias", true},
          {"sample_size", 32},
          {"patch_size", 2},
          {"activation_fn", "gelu-approximate"},
          {"num_embeds_ada_norm", 1000},
          {"norm_type", "ada_norm_single"},
          {"norm_elementwise_affine", false},
          {"norm_eps", 1e-6},
          {"interpolation_scale", nullptr},
          {"use_additional_conditions", true},
          {"caption_channels", 64},
          {"attention_type", "default"}};
}

void write_json(const std::filesystem::path& path, const nlohmann::json& json) {
  std::ofstream(path) << json.dump(2);
}

// The tiny model's text encoder, tokenizer, VAE and scheduler around a new
// transformer, as a PixArt-Σ pipeline.
void write_six_head_pixart(const std::filesystem::path& folder) {
  std::filesystem::copy(tiny_pixart_folder(), folder, std::filesystem::copy_options::recursive);
  const nlohmann::json config = six_head_transformer_config();
  write_json(folder / "transformer" / "config.json", config);
  auto source = std::make_shared<io::SyntheticWeights>(97, "six-head transformer");
  const io::Weights weights(source, at::kFloat);
  models::PixArtTransformer model(
      models::PixArtConfig::from_config(io::Config(config, "six-head transformer")), weights);
  io::write_safetensors(folder / "transformer" / "diffusion_pytorch_model.safetensors",
                        source->tensors());
  nlohmann::json index = io::read_json_file(folder / "model_index.json");
  index["_class_name"] = "PixArtSigmaPipeline";
  write_json(folder / "model_index.json", index);
}

}  // namespace

const std::filesystem::path& tiny_pixart_folder() {
  static const std::filesystem::path folder =
      pipelines::resolve_model("builtin:tiny-pixart", test_cache());
  return folder;
}

const std::filesystem::path& six_head_pixart_folder() {
  static const std::filesystem::path folder = [] {
    const auto final_folder = test_cache() / "six-head-pixart-v1";
    if (std::filesystem::exists(final_folder / "model_index.json"))
      return final_folder;
    // Written beside and renamed into place: the first of concurrent
    // writers wins, the others drop their copies.
    const auto staging = test_cache() / ("six-head-pixart.partial-" + std::to_string(::getpid()));
    std::filesystem::remove_all(staging);
    write_six_head_pixart(staging);
    std::error_code error;
    std::filesystem::rename(staging, final_folder, error);
    if (error)
      std::filesystem::remove_all(staging);
    return final_folder;
  }();
  return folder;
}

const std::filesystem::path& tiny_sd3_folder() {
  static const std::filesystem::path folder =
      pipelines::resolve_model("builtin:tiny-sd3", test_cache());
  return folder;
}

const std::filesystem::path& tiny_flux_folder() {
  static const std::filesystem::path folder =
      pipelines::resolve_model("builtin:tiny-flux", test_cache());
  return folder;
}

}  // namespace xdit::parallel::testing
