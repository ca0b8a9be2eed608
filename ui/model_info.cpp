#include "ui/model_info.hpp"

#include <cstdio>
#include <exception>
#include <optional>
#include <system_error>

#include "io/model_folder.hpp"
#include "models/autoencoder_kl.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"

namespace xdit::ui {
namespace {

// The components each kind of pipeline loads (SD3's T5 may be left out).
std::vector<const char*> required_parts(pipelines::PipelineKind kind) {
  std::vector<const char*> parts = {"transformer", "vae", "text_encoder", "tokenizer", "scheduler"};
  if (kind == pipelines::PipelineKind::kSD3 || kind == pipelines::PipelineKind::kFlux) {
    parts.push_back("text_encoder_2");
    parts.push_back("tokenizer_2");
  }
  return parts;
}

// The files that prove a listed component present: the vocabulary of a
// tokenizer, the weights of a model, the config of anything.
void check_part(const io::ModelFolder& folder, const std::string& name, uintmax_t& bytes);

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

void check_part(const io::ModelFolder& folder, const std::string& name, uintmax_t& bytes) {
  folder.config(name);
  const io::Component& part = folder.component(name);
  if (part.kind() == io::ComponentKind::kTokenizer) {
    const bool clip = part.class_name.rfind("CLIPTokenizer", 0) == 0;
    for (const char* file : clip ? std::vector<const char*>{"vocab.json", "merges.txt"}
                                 : std::vector<const char*>{"spiece.model"})
      folder.file(name, file);
  } else if (part.kind() == io::ComponentKind::kModel) {
    folder.weights_file(name);
    bytes += folder_bytes(folder.directory(name));
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
  if (!attempt(info, [&] { info.kind = pipelines::pipeline_kind(*folder); }))
    return info;
  uintmax_t bytes = 0;
  for (const char* part : required_parts(info.kind)) {
    if (!folder->has(part) || folder->component(part).is_null())
      info.problems.push_back(std::string("model_index.json lists no ") + part);
  }
  for (const io::Component& part : folder->components()) {
    if (!part.is_null())
      attempt(info, [&] { check_part(*folder, part.name, bytes); });
  }
  if (!info.usable())
    return info;
  pipelines::TransformerFacts facts;
  int64_t factor = 8;
  const bool configs_read = attempt(info, [&] {
    facts = pipelines::transformer_facts(*folder);
    factor = models::AutoencoderKLConfig::from_config(folder->config("vae")).spatial_scale();
  });
  if (!configs_read)
    return info;
  info.default_side = facts.sample_size * factor;
  info.size_multiple = factor * facts.patch_size;
  if (facts.family == models::DitFamily::kPixArt)
    info.bins = pipelines::aspect_ratio_bins(facts.sample_size);
  const bool flux = info.kind == pipelines::PipelineKind::kFlux;
  info.negative_prompt = !flux;
  info.guidance = !flux || facts.guidance_distilled;
  info.default_guidance = pipelines::guidance_scale({}, facts);
  std::string kind = pipelines::display_name(info.kind);
  if (flux)
    kind += facts.guidance_distilled ? " (guidance-distilled)" : " (no guidance)";
  info.summary = kind + ": " + std::to_string(facts.num_layers) + " layers × " +
                 std::to_string(facts.heads) + " heads, " + std::to_string(info.default_side) +
                 " px, weights " + human_bytes(bytes);
  return info;
}

}  // namespace xdit::ui
