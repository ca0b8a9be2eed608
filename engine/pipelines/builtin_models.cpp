#include "pipelines/builtin_models.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/error.hpp"
#include "io/config.hpp"
#include "io/model_folder.hpp"
#include "io/synthetic_weights.hpp"
#include "models/autoencoder_kl.hpp"
#include "models/pixart_transformer.hpp"
#include "models/t5_encoder.hpp"
#include "models/t5_tokenizer.hpp"

namespace xdit::pipelines {
namespace {

using Json = nlohmann::ordered_json;

struct BuiltinModel {
  std::string_view name;
  // Bump the version when the model's files change, so that stale caches
  // are not used.
  std::string_view folder;
  BuiltinPixArtShape shape;
};

constexpr std::array<BuiltinModel, 2> kBuiltinModels = {{
    // Small enough for a 20-step image in seconds on one core.
    {"builtin:tiny-pixart", "tiny-pixart-v1", kTinyPixArtShape},
    {"builtin:bench-pixart", "bench-pixart-v1", kBenchPixArtShape},
}};

constexpr uint64_t kTinyPixArtSeed = 20240601;
constexpr int kTinyVocabularyPieces = 400;

// A PixArt-α-architecture transformer (learned sigma, no size conditions
// below sample_size 128), cross-attending at its own width.
Json transformer_config(const BuiltinPixArtShape& shape, int64_t text_channels) {
  return {{"_class_name", "PixArtTransformer2DModel"},
          {"num_attention_heads", shape.num_attention_heads},
          {"attention_head_dim", shape.attention_head_dim},
          {"in_channels", 4},
          {"out_channels", 8},
          {"num_layers", shape.num_layers},
          {"dropout", 0.0},
          {"norm_num_groups", 32},
          {"cross_attention_dim", shape.num_attention_heads * shape.attention_head_dim},
          {"attention_bias", true},
          {"sample_size", shape.sample_size},
          {"patch_size", 2},
          {"activation_fn", "gelu-approximate"},
          {"num_embeds_ada_norm", 1000},
          {"upcast_attention", false},
          {"norm_type", "ada_norm_single"},
          {"norm_elementwise_affine", false},
          {"norm_eps", 1e-6},
          {"interpolation_scale", nullptr},
          {"use_additional_conditions", nullptr},
          {"caption_channels", text_channels},
          {"attention_type", "default"}};
}

Json tiny_text_encoder_config(int64_t vocab_size) {
  return {{"architectures", {"T5EncoderModel"}},
          {"model_type", "t5"},
          {"vocab_size", vocab_size},
          {"d_model", 64},
          {"d_kv", 16},
          {"d_ff", 128},
          {"num_layers", 2},
          {"num_heads", 4},
          {"relative_attention_num_buckets", 32},
          {"relative_attention_max_distance", 128},
          {"layer_norm_epsilon", 1e-6},
          {"feed_forward_proj", "gated-gelu"},
          {"dense_act_fn", "gelu_new"},
          {"is_gated_act", true},
          {"pad_token_id", 0},
          {"eos_token_id", 1},
          {"tie_word_embeddings", false},
          {"torch_dtype", "float32"}};
}

Json tiny_vae_config() {
  return {{"_class_name", "AutoencoderKL"},
          {"in_channels", 3},
          {"out_channels", 3},
          {"down_block_types", std::vector<std::string>(4, "DownEncoderBlock2D")},
          {"up_block_types", std::vector<std::string>(4, "UpDecoderBlock2D")},
          {"block_out_channels", {32, 32, 64, 64}},
          {"layers_per_block", 1},
          {"act_fn", "silu"},
          {"latent_channels", 4},
          {"norm_num_groups", 8},
          {"sample_size", 512},
          {"scaling_factor", 0.18215},
          {"force_upcast", true}};
}

// PixArt's scheduler: DPMSolverMultistepScheduler with library defaults.
Json tiny_scheduler_config() {
  return {{"_class_name", "DPMSolverMultistepScheduler"},
          {"num_train_timesteps", 1000},
          {"beta_start", 0.0001},
          {"beta_end", 0.02},
          {"beta_schedule", "linear"},
          {"solver_order", 2},
          {"prediction_type", "epsilon"},
          {"algorithm_type", "dpmsolver++"},
          {"solver_type", "midpoint"},
          {"lower_order_final", true},
          {"final_sigmas_type", "zero"},
          {"timestep_spacing", "linspace"},
          {"steps_offset", 0}};
}

io::Config as_config(const Json& json, const std::string& source) {
  return io::Config(nlohmann::json::parse(json.dump()), source);
}

// Builds the model on synthetic weights so that the checkpoint holds exactly
// the tensors the model code asks for, with the shapes its config implies.
template <typename Model, typename Config, typename... Extra>
io::NamedTensors synthesize(const Json& config, const std::string& name, Extra... extra) {
  auto source = std::make_shared<io::SyntheticWeights>(kTinyPixArtSeed, "builtin " + name);
  const io::Weights weights(source, at::kFloat);
  Model model(Config::from_config(as_config(config, "builtin " + name)), weights, extra...);
  return source->tensors();
}

// T5EncoderModel checkpoints hold the tied embedding under both names.
io::NamedTensors with_tied_embeddings(io::NamedTensors tensors) {
  at::Tensor embedding;
  bool has_shared = false;
  bool has_embed_tokens = false;
  for (const auto& [key, tensor] : tensors) {
    has_shared |= key == "shared.weight";
    has_embed_tokens |= key == "encoder.embed_tokens.weight";
    if (key == "shared.weight" || key == "encoder.embed_tokens.weight")
      embedding = tensor;
  }
  if (!has_shared)
    tensors.emplace_back("shared.weight", embedding);
  if (!has_embed_tokens)
    tensors.emplace_back("encoder.embed_tokens.weight", embedding);
  return tensors;
}

}  // namespace

std::vector<std::string> builtin_model_names() {
  std::vector<std::string> names;
  for (const BuiltinModel& model : kBuiltinModels)
    names.emplace_back(model.name);
  return names;
}

bool is_builtin_model(std::string_view spec) {
  return spec.rfind(kBuiltinPrefix, 0) == 0;
}

std::filesystem::path default_cache_dir() {
  if (const char* dir = std::getenv("XDIT_CACHE_DIR"); dir && *dir)
    return dir;
  if (const char* dir = std::getenv("XDG_CACHE_HOME"); dir && *dir) {
    return std::filesystem::path(dir) / "xdit";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::filesystem::path(home) / ".cache" / "xdit";
  }
  return std::filesystem::temp_directory_path() / "xdit-cache";
}

void write_tiny_pixart(const std::filesystem::path& folder) {
  write_builtin_pixart(folder, kTinyPixArtShape);
}

void write_builtin_pixart(const std::filesystem::path& folder, const BuiltinPixArtShape& shape) {
  const std::string spiece = models::make_tiny_sentencepiece_model(kTinyVocabularyPieces);
  const auto tokenizer = models::T5Tokenizer::from_serialized(spiece);
  const Json text_encoder = tiny_text_encoder_config(tokenizer.vocab_size());
  const Json transformer = transformer_config(shape, text_encoder["d_model"].get<int64_t>());
  const Json vae = tiny_vae_config();

  io::ModelFolderWriter writer(folder, "PixArtAlphaPipeline");
  writer.add_component("tokenizer", "transformers", "T5Tokenizer");
  writer.write_config("tokenizer", {{"tokenizer_class", "T5Tokenizer"},
                                    {"extra_ids", tokenizer.options().extra_ids},
                                    {"eos_token", "</s>"},
                                    {"pad_token", "<pad>"},
                                    {"unk_token", "<unk>"},
                                    {"model_max_length", 120}});
  writer.write_file("tokenizer", "spiece.model", spiece);

  writer.add_component("text_encoder", "transformers", "T5EncoderModel");
  writer.write_config("text_encoder", text_encoder);
  writer.write_weights("text_encoder",
                       with_tied_embeddings(synthesize<models::T5Encoder, models::T5Config>(
                           text_encoder, "text_encoder")));

  writer.add_component("transformer", "diffusers", "PixArtTransformer2DModel");
  writer.write_config("transformer", transformer);
  writer.write_weights("transformer", synthesize<models::PixArtTransformer, models::PixArtConfig>(
                                          transformer, "transformer"));

  writer.add_component("vae", "diffusers", "AutoencoderKL");
  writer.write_config("vae", vae);
  writer.write_weights("vae", synthesize<models::AutoencoderKL, models::AutoencoderKLConfig>(
                                  vae, "vae", models::AutoencoderKL::Parts::kEncoderAndDecoder));

  writer.add_component("scheduler", "diffusers", "DPMSolverMultistepScheduler");
  writer.write_config("scheduler", tiny_scheduler_config());
  writer.finish();
}

std::filesystem::path resolve_model(std::string_view spec, const std::filesystem::path& cache_dir) {
  if (!is_builtin_model(spec))
    return std::filesystem::path(spec);
  const auto* model = std::find_if(kBuiltinModels.begin(), kBuiltinModels.end(),
                                   [&](const BuiltinModel& m) { return m.name == spec; });
  if (model == kBuiltinModels.end()) {
    std::string known;
    for (const auto& name : builtin_model_names())
      known += (known.empty() ? "" : ", ") + name;
    throw UsageError("unknown built-in model '" + std::string(spec) + "' (available: " + known +
                     ")");
  }
  const auto folder = cache_dir / model->folder;
  if (std::filesystem::exists(folder / "model_index.json"))
    return folder;
  // Writers only ever rename complete folders into place, so a folder
  // without model_index.json is debris from an older layout: replace it.
  std::filesystem::remove_all(folder);
  // Written beside the final place and renamed: concurrent writers (ranks of
  // one group) each finish their own copy and the first rename wins.
  std::error_code error;
  std::filesystem::create_directories(cache_dir, error);
  if (error)
    throw FileError(cache_dir.string(), "cannot be created: " + error.message());
  const auto staging =
      cache_dir / (std::string(model->folder) + ".partial-" + std::to_string(::getpid()));
  std::filesystem::remove_all(staging);
  write_builtin_pixart(staging, model->shape);
  std::filesystem::rename(staging, folder, error);
  if (error)
    std::filesystem::remove_all(staging);
  if (!std::filesystem::exists(folder / "model_index.json")) {
    throw FileError(folder.string(), "could not be written: " + error.message());
  }
  return folder;
}

}  // namespace xdit::pipelines
