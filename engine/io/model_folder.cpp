#include "io/model_folder.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <system_error>

#include "core/error.hpp"
#include "io/atomic_write.hpp"

namespace xdit::io {
namespace {

constexpr std::string_view kModelIndex = "model_index.json";
constexpr std::string_view kDiffusersStem = "diffusion_pytorch_model";
constexpr std::string_view kTransformersStem = "model";
constexpr std::string_view kTransformersPickleStem = "pytorch_model";

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// diffusers' and transformers' rule: the variant goes before the last
// extension, so "x.safetensors" -> "x.fp16.safetensors" and
// "x.safetensors.index.json" -> "x.safetensors.index.fp16.json".
std::string add_variant(std::string_view file_name, std::string_view variant) {
  if (variant.empty())
    return std::string(file_name);
  const size_t dot = file_name.rfind('.');
  return std::string(file_name.substr(0, dot)) + "." + std::string(variant) +
         std::string(file_name.substr(dot));
}

// A component or file name must stay inside its folder.
bool is_plain_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\\') == std::string_view::npos;
}

std::string stem_for(const std::string& library) {
  return std::string(library == "transformers" ? kTransformersStem : kDiffusersStem);
}

// The safetensors file names a library looks for, in its order: diffusers
// takes a sharded index before a single file, transformers the other way
// round. The second index form ("x.fp16.safetensors.index.json") is not what
// either library writes, but some conversion scripts do.
std::vector<std::string> safetensors_candidates(const std::string& library,
                                                const std::string& variant) {
  const bool transformers_first = library != "diffusers";
  std::vector<std::string> names;
  for (const std::string_view stem : transformers_first
                                         ? std::vector{kTransformersStem, kDiffusersStem}
                                         : std::vector{kDiffusersStem, kTransformersStem}) {
    const std::string base(stem);
    const std::string single = add_variant(base + ".safetensors", variant);
    std::vector<std::string> indexes = {add_variant(base + ".safetensors.index.json", variant)};
    if (!variant.empty())
      indexes.push_back(base + "." + variant + ".safetensors.index.json");
    if (transformers_first)
      names.push_back(single);
    names.insert(names.end(), indexes.begin(), indexes.end());
    if (!transformers_first)
      names.push_back(single);
  }
  return names;
}

std::vector<std::string> pickle_candidates(const std::string& variant) {
  std::vector<std::string> names;
  for (const std::string_view stem : {kDiffusersStem, kTransformersPickleStem}) {
    names.push_back(add_variant(std::string(stem) + ".bin", variant));
    names.push_back(add_variant(std::string(stem) + ".bin.index.json", variant));
  }
  return names;
}

// diffusers uses a variant for a component when any file in its folder has a
// second dot-separated part starting with the variant
// ("model.fp16.safetensors", "model.fp16-00001-of-00002.safetensors").
bool has_variant_files(const std::filesystem::path& directory, const std::string& variant) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    const std::string name = entry.path().filename().string();
    const size_t first = name.find('.');
    if (first != std::string::npos && name.compare(first + 1, variant.size(), variant) == 0) {
      return true;
    }
  }
  return false;
}

std::string conversion_hint(const std::filesystem::path& root, const std::string& variant) {
  const std::string variant_argument = variant.empty() ? "" : ", variant='" + variant + "'";
  return "xdit reads only safetensors checkpoints (loading a pickle can run arbitrary code). "
         "Convert the folder once with diffusers: python -c \"from diffusers import "
         "DiffusionPipeline; DiffusionPipeline.from_pretrained('" +
         root.string() + "'" + variant_argument + ").save_pretrained('" + root.string() +
         "-safetensors'" + variant_argument + ", safe_serialization=True)\"";
}

Config read_model_index(const std::filesystem::path& root) {
  std::error_code error;
  if (!std::filesystem::exists(root, error))
    throw FileError(root.string(), "does not exist");
  if (!std::filesystem::is_directory(root, error)) {
    throw FileError(root.string(),
                    "is not a folder; expected a diffusers pipeline folder with model_index.json");
  }
  const auto index = root / kModelIndex;
  if (!std::filesystem::exists(index, error)) {
    throw FileError(index.string(), "is missing: not a diffusers pipeline folder?");
  }
  return Config::from_file(index);
}

}  // namespace

ComponentKind component_kind(std::string_view class_name) {
  if (ends_with(class_name, "Scheduler"))
    return ComponentKind::kScheduler;
  if (class_name.find("Tokenizer") != std::string_view::npos)
    return ComponentKind::kTokenizer;
  if (ends_with(class_name, "ImageProcessor") || ends_with(class_name, "FeatureExtractor")) {
    return ComponentKind::kProcessor;
  }
  return ComponentKind::kModel;
}

std::string_view config_file_name(ComponentKind kind) {
  switch (kind) {
    case ComponentKind::kScheduler:
      return "scheduler_config.json";
    case ComponentKind::kTokenizer:
      return "tokenizer_config.json";
    case ComponentKind::kProcessor:
      return "preprocessor_config.json";
    case ComponentKind::kModel:
      break;
  }
  return "config.json";
}

ModelFolder::ModelFolder(std::filesystem::path root, std::string variant)
    : root_(std::move(root)),
      variant_(std::move(variant)),
      index_(read_model_index(root_)),
      class_name_(index_.get<std::string>("_class_name")),
      diffusers_version_(index_.get_or<std::string>("_diffusers_version", "")) {
  for (const auto& [key, value] : index_.json().items()) {
    // "_class_name", "_diffusers_version", "_name_or_path": not components;
    // nor are pipeline options such as "requires_safety_checker": true.
    if (key.empty() || key[0] == '_')
      continue;
    if (!value.is_null() && !value.is_array())
      continue;
    const bool is_null_entry =
        value.is_null() || (value.size() == 2 && value[0].is_null() && value[1].is_null());
    const bool is_entry = value.is_array() && value.size() == 2 && value[0].is_string() &&
                          value[1].is_string() && !value[1].get_ref<const std::string&>().empty();
    if (!is_null_entry && !is_entry) {
      index_.fail(key, "is " + value.dump() + ", expected [library, class name] or [null, null]");
    }
    if (!is_plain_name(key))
      index_.fail(key, "is not a folder name");
    Component component{key, "", ""};
    if (is_entry) {
      component.library = value[0].get<std::string>();
      component.class_name = value[1].get<std::string>();
    }
    components_.push_back(std::move(component));
  }
}

bool ModelFolder::has(std::string_view name) const {
  return std::any_of(components_.begin(), components_.end(),
                     [&](const Component& c) { return c.name == name && !c.is_null(); });
}

const Component& ModelFolder::component(std::string_view name) const {
  const auto it = std::find_if(components_.begin(), components_.end(),
                               [&](const Component& c) { return c.name == name; });
  if (it == components_.end())
    index_.fail(name, "is not a component of this pipeline");
  if (it->is_null())
    index_.fail(name, "is null: the pipeline was saved without it");
  return *it;
}

std::filesystem::path ModelFolder::directory(std::string_view name) const {
  const Component& c = component(name);
  const auto dir = root_ / c.name;
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    throw FileError(dir.string(), "is missing, but model_index.json lists component '" + c.name +
                                      "' (" + c.class_name + ")");
  }
  return dir;
}

std::optional<std::filesystem::path> ModelFolder::find_file(std::string_view name,
                                                            std::string_view file_name) const {
  const auto path = directory(name) / file_name;
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error))
    return std::nullopt;
  return path;
}

std::filesystem::path ModelFolder::file(std::string_view name, std::string_view file_name) const {
  auto path = find_file(name, file_name);
  if (!path) {
    const Component& c = component(name);
    throw FileError((directory(name) / file_name).string(),
                    "is missing from component '" + c.name + "' (" + c.class_name + ")");
  }
  return *path;
}

std::filesystem::path ModelFolder::config_path(std::string_view name) const {
  return file(name, config_file_name(component(name).kind()));
}

Config ModelFolder::config(std::string_view name) const {
  return Config::from_file(config_path(name));
}

WeightsFile ModelFolder::weights_file(std::string_view name) const {
  const Component& c = component(name);
  const auto dir = directory(name);
  const std::string variant =
      !variant_.empty() && has_variant_files(dir, variant_) ? variant_ : std::string();
  std::error_code error;
  const auto candidates = safetensors_candidates(c.library, variant);
  for (const auto& candidate : candidates) {
    if (std::filesystem::is_regular_file(dir / candidate, error)) {
      return {dir / candidate, ends_with(candidate, ".json"), variant};
    }
  }
  for (const auto& candidate : pickle_candidates(variant)) {
    if (std::filesystem::exists(dir / candidate, error)) {
      throw FileError((dir / candidate).string(),
                      "is a pickle checkpoint. " + conversion_hint(root_, variant));
    }
  }
  std::string looked_for;
  for (const auto& candidate : candidates)
    looked_for += (looked_for.empty() ? "" : ", ") + candidate;
  throw FileError(dir.string(), "has no weights for component '" + c.name + "' (" + c.class_name +
                                    "); looked for " + looked_for);
}

std::shared_ptr<SafetensorsWeights> ModelFolder::weights(std::string_view name) const {
  const WeightsFile chosen = weights_file(name);
  return chosen.sharded ? SafetensorsWeights::open_index(chosen.path)
                        : SafetensorsWeights::open_file(chosen.path);
}

ModelFolderWriter::ModelFolderWriter(std::filesystem::path root, std::string pipeline_class,
                                     std::string diffusers_version)
    : root_(std::move(root)),
      index_({{"_class_name", std::move(pipeline_class)},
              {"_diffusers_version", std::move(diffusers_version)}}) {
  std::error_code error;
  std::filesystem::create_directories(root_, error);
  if (error)
    throw FileError(root_.string(), "cannot be created: " + error.message());
}

void ModelFolderWriter::check_new_name(const std::string& name) const {
  if (!is_plain_name(name) || name[0] == '_' || index_.contains(name)) {
    throw UsageError(root_.string() + ": '" + name +
                     "' cannot be added to model_index.json (not a folder name, private or "
                     "already there)");
  }
}

std::filesystem::path ModelFolderWriter::add_component(const std::string& name,
                                                       const std::string& library,
                                                       const std::string& class_name) {
  check_new_name(name);
  if (library.empty() || class_name.empty()) {
    throw UsageError(root_.string() + ": component '" + name + "' needs a library and a class");
  }
  const auto dir = root_ / name;
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error)
    throw FileError(dir.string(), "cannot be created: " + error.message());
  index_[name] = {library, class_name};
  components_.push_back({name, library, class_name});
  return dir;
}

void ModelFolderWriter::add_null_component(const std::string& name) {
  check_new_name(name);
  index_[name] = {nullptr, nullptr};
  components_.push_back({name, "", ""});
}

void ModelFolderWriter::set_option(const std::string& key, nlohmann::ordered_json value) {
  check_new_name(key);
  index_[key] = std::move(value);
}

const Component& ModelFolderWriter::listed(const std::string& name) const {
  const auto it = std::find_if(components_.begin(), components_.end(),
                               [&](const Component& c) { return c.name == name && !c.is_null(); });
  if (it == components_.end()) {
    throw UsageError(root_.string() + ": no component '" + name + "' was added");
  }
  return *it;
}

void ModelFolderWriter::write_config(const std::string& name,
                                     const nlohmann::ordered_json& config) {
  const Component& c = listed(name);
  if (!config.is_object()) {
    throw UsageError(root_.string() + ": the config of '" + name + "' must be a JSON object");
  }
  nlohmann::ordered_json full = nlohmann::ordered_json::object();
  if (c.library == "diffusers") {
    full["_class_name"] = c.class_name;
    full["_diffusers_version"] = index_["_diffusers_version"];
  }
  full.update(config);
  write_json_file(root_ / name / config_file_name(c.kind()), full);
}

void ModelFolderWriter::write_weights(const std::string& name, const NamedTensors& tensors,
                                      const std::string& variant, uint64_t max_shard_bytes) {
  const Component& c = listed(name);
  const auto dir = root_ / name;
  const std::string stem = stem_for(c.library);
  uint64_t total_bytes = 0;
  for (const auto& named : tensors)
    total_bytes += named.second.nbytes();
  // As torch's save_file marks them; transformers refuses a checkpoint without.
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  // Like diffusers, a checkpoint that fits one shard is written unsharded.
  if (max_shard_bytes == 0 || total_bytes <= max_shard_bytes) {
    write_safetensors(dir / add_variant(stem + ".safetensors", variant), tensors, metadata);
    return;
  }
  write_sharded_safetensors(dir / add_variant(stem + ".safetensors.index.json", variant),
                            variant.empty() ? stem : stem + "." + variant, tensors, max_shard_bytes,
                            metadata);
}

void ModelFolderWriter::write_file(const std::string& name, const std::string& file_name,
                                   std::string_view bytes) {
  listed(name);
  if (!is_plain_name(file_name)) {
    throw UsageError(root_.string() + ": '" + file_name + "' is not a file name");
  }
  write_file_atomically(root_ / name / file_name, {bytes});
}

const std::filesystem::path& ModelFolderWriter::finish() {
  write_json_file(root_ / kModelIndex, index_);
  return root_;
}

}  // namespace xdit::io
