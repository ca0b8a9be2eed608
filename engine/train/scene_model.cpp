#include "train/scene_model.hpp"

#include <algorithm>
#include <system_error>

#include "core/error.hpp"
#include "data/scene.hpp"
#include "io/model_folder.hpp"
#include "models/sentencepiece_model.hpp"
#include "models/t5_tokenizer.hpp"
#include "pipelines/builtin_parts.hpp"

namespace xdit::train {
namespace {

// Every word a caption can use, each one token.
std::vector<std::string> caption_words() {
  std::vector<std::string> words = {"a",   "small", "large", "at",     "the",    "on",        "and",
                                    "top", "left",  "right", "bottom", "centre", "background"};
  for (const auto kind : data::all_shape_kinds())
    words.push_back(data::name(kind));
  for (const auto colour : data::all_colours())
    words.push_back(data::name(colour));
  return words;
}

// Room beyond the caption words for any other text (letters and pieces).
constexpr int kVocabularyPieces = 128;

}  // namespace

int64_t SceneModelShape::vae_factor() const {
  return int64_t{1} << (static_cast<int64_t>(vae_channels.size()) - 1);
}

int64_t SceneModelShape::latent_size() const {
  return image_size / vae_factor();
}

Json SceneModelShape::to_json() const {
  return {{"image_size", image_size},
          {"vae_channels", vae_channels},
          {"text_width", text_width},
          {"layers", layers},
          {"heads", heads},
          {"head_dim", head_dim},
          {"caption_tokens", caption_tokens}};
}

SceneModelConfigs scene_model_configs(const SceneModelShape& shape) {
  SceneModelConfigs configs;
  configs.spiece = models::make_tiny_sentencepiece_model(kVocabularyPieces, caption_words());
  const int64_t vocabulary = models::T5Tokenizer::from_serialized(configs.spiece).vocab_size();
  configs.text_encoder = pipelines::builtin::t5_encoder_config(vocabulary, shape.text_width);
  const pipelines::BuiltinPixArtShape transformer{shape.layers, shape.heads, shape.head_dim,
                                                  shape.latent_size()};
  configs.transformer = pipelines::builtin::pixart_transformer_config(transformer, shape.text_width,
                                                                      /*learned_sigma=*/false);
  const auto blocks = static_cast<int64_t>(shape.vae_channels.size());
  configs.vae = {{"_class_name", "AutoencoderKL"},
                 {"in_channels", 3},
                 {"out_channels", 3},
                 {"down_block_types", std::vector<std::string>(blocks, "DownEncoderBlock2D")},
                 {"up_block_types", std::vector<std::string>(blocks, "UpDecoderBlock2D")},
                 {"block_out_channels", shape.vae_channels},
                 {"layers_per_block", 1},
                 {"act_fn", "silu"},
                 {"latent_channels", 4},
                 {"norm_num_groups", 16},
                 {"sample_size", shape.image_size},
                 {"scaling_factor", 1.0},
                 {"force_upcast", true}};
  configs.scheduler = pipelines::builtin::pixart_scheduler_config();
  return configs;
}

void write_scene_model(const std::filesystem::path& folder, const SceneModelConfigs& configs,
                       const SceneModelWeights& weights) {
  if (std::filesystem::exists(folder))
    throw FileError(folder.string(),
                    "exists already; the trained model is written to a new folder");
  auto staging = folder;
  staging += ".partial";
  std::filesystem::remove_all(staging);
  {
    io::ModelFolderWriter writer(staging, "PixArtAlphaPipeline");
    pipelines::builtin::write_t5_tokenizer(writer, "tokenizer", configs.spiece, 120);
    writer.add_component("text_encoder", "transformers", "T5EncoderModel");
    writer.write_config("text_encoder", configs.text_encoder);
    writer.write_weights("text_encoder",
                         pipelines::builtin::with_tied_embeddings(weights.text_encoder));
    writer.add_component("transformer", "diffusers", "PixArtTransformer2DModel");
    writer.write_config("transformer", configs.transformer);
    writer.write_weights("transformer", weights.transformer);
    writer.add_component("vae", "diffusers", "AutoencoderKL");
    writer.write_config("vae", configs.vae);
    writer.write_weights("vae", weights.vae);
    pipelines::builtin::write_scheduler(writer, configs.scheduler);
    writer.finish();
  }
  std::error_code error;
  std::filesystem::rename(staging, folder, error);
  if (error)
    throw FileError(folder.string(), "could not be written: " + error.message());
}

}  // namespace xdit::train
