#include "ui/model_info.hpp"

#include <cstdio>
#include <exception>
#include <optional>
#include <system_error>

#include "io/model_folder.hpp"
#include "models/autoencoder_kl.hpp"
#include "models/pixart_transformer.hpp"
#include "pipelines/builtin_models.hpp"

namespace xdit::ui {
namespace {

// What DitPipeline::load reads, with the file that proves each present.
struct Part {
  const char* name;
  bool has_weights;
};
constexpr Part kParts[] = {{"transformer", true},
                           {"vae", true},
                           {"text_encoder", true},
                           {"tokenizer", false},
                           {"scheduler", false}};

uintmax_t folder_bytes(const std::filesystem::path& dir) {
  uintmax_t bytes = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.path().extension() == ".safetensors")
      bytes += entry.file_size(error);
  }
  return bytes;
}

std::string human_bytes(uintmax_t bytes) {
  char text[32];
  if (bytes >= (1ull << 30)) {
    std::snprintf(text, sizeof(text), "%.1f GB", static_cast<double>(bytes) / (1ull << 30));
  } else {
    std::snprintf(text, sizeof(text), "%.0f MB", static_cast<double>(bytes) / (1ull << 20));
  }
  return text;
}

std::string family(const std::string& pipeline_class) {
  if (pipeline_class == "PixArtAlphaPipeline")
    return "PixArt-α";
  if (pipeline_class == "PixArtSigmaPipeline")
    return "PixArt-Σ";
  return pipeline_class;
}

// Adds `what` failed to the problems instead of throwing.
template <typename Fn>
bool attempt(ModelInfo& info, Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const std::exception& e) {
    info.problems.emplace_back(e.what());
    return false;
  }
}

}  // namespace

ModelInfo inspect_model(const std::string& spec) {
  ModelInfo info;
  info.spec = spec;
  if (!attempt(info, [&] { info.folder = pipelines::resolve_model(spec); }))
    return info;
  std::optional<io::ModelFolder> folder;
  if (!attempt(info, [&] { folder.emplace(info.folder); }))
    return info;
  info.pipeline_class = folder->class_name();
  if (info.pipeline_class != "PixArtAlphaPipeline" &&
      info.pipeline_class != "PixArtSigmaPipeline") {
    info.problems.push_back(info.folder.string() + " holds a " + info.pipeline_class +
                            ": only PixArtAlphaPipeline and PixArtSigmaPipeline run here yet");
  }
  uintmax_t bytes = 0;
  for (const Part& part : kParts) {
    if (!folder->has(part.name)) {
      info.problems.push_back(std::string("model_index.json lists no ") + part.name);
      continue;
    }
    attempt(info, [&] {
      folder->config(part.name);
      if (part.has_weights) {
        folder->weights_file(part.name);
        bytes += folder_bytes(folder->directory(part.name));
      } else if (std::string(part.name) == "tokenizer") {
        folder->file(part.name, "spiece.model");
      }
    });
  }
  if (!info.usable())
    return info;
  models::PixArtConfig transformer;
  int64_t factor = 8;
  const bool configs_read = attempt(info, [&] {
    transformer = models::PixArtConfig::from_config(folder->config("transformer"));
    factor = models::AutoencoderKLConfig::from_config(folder->config("vae")).spatial_scale();
  });
  if (!configs_read)
    return info;
  info.default_side = transformer.sample_size * factor;
  info.size_multiple = factor * transformer.patch_size;
  info.bins = pipelines::aspect_ratio_bins(transformer.sample_size);
  info.summary = family(info.pipeline_class) + ": " + std::to_string(transformer.num_layers) +
                 " layers × " + std::to_string(transformer.num_attention_heads) + " heads, " +
                 std::to_string(info.default_side) + " px, weights " + human_bytes(bytes);
  return info;
}

}  // namespace xdit::ui
