#pragma once
// A diffusers pipeline folder, as `DiffusionPipeline.save_pretrained` writes
// it and the Hub serves it:
//
//   model_index.json       {"_class_name": "PixArtAlphaPipeline",
//                           "_diffusers_version": "0.30.3",
//                           "transformer": ["diffusers", "PixArtTransformer2DModel"],
//                           "safety_checker": [null, null], ...}
//   transformer/config.json + diffusion_pytorch_model[.fp16].safetensors
//                             (or shards and *.safetensors.index[.fp16].json)
//   text_encoder/config.json + model[.fp16].safetensors (or shards)
//   tokenizer/tokenizer_config.json, spiece.model, ...
//   scheduler/scheduler_config.json
//
// ModelFolder reads it lazily: opening checks only the folder and
// model_index.json, so a rank that needs one component touches no other.
// ModelFolderWriter writes the same layout (the built-in model, tests).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/config.hpp"
#include "io/safetensors_writer.hpp"
#include "io/weight_source.hpp"

namespace xdit::io {

// What a component is decides which config file it has and whether it has
// weights; diffusers and transformers tell it by the class.
enum class ComponentKind {
  kModel,      // config.json + weights
  kScheduler,  // scheduler_config.json
  kTokenizer,  // tokenizer_config.json + vocabulary files
  kProcessor,  // preprocessor_config.json
};

ComponentKind component_kind(std::string_view class_name);
// "config.json", "scheduler_config.json", ...
std::string_view config_file_name(ComponentKind kind);

struct Component {
  std::string name;        // the key in model_index.json and the folder name
  std::string library;     // "diffusers", "transformers", ...; empty when null
  std::string class_name;  // empty when null
  bool is_null() const { return class_name.empty(); }
  ComponentKind kind() const { return component_kind(class_name); }
};

// The weights chosen for a component.
struct WeightsFile {
  std::filesystem::path path;  // a .safetensors file or a *.index*.json
  bool sharded = false;
  std::string variant;  // empty: the default weights
};

class ModelFolder {
 public:
  // `variant` ("fp16", ...) selects variant weights for every component that
  // has them, and the default weights for the others, as diffusers does.
  // Throws FileError when the folder or model_index.json is missing or
  // broken, ConfigError when model_index.json is malformed.
  explicit ModelFolder(std::filesystem::path root, std::string variant = "");

  const std::filesystem::path& root() const { return root_; }
  const std::string& variant() const { return variant_; }
  const Config& model_index() const { return index_; }
  const std::string& class_name() const { return class_name_; }
  const std::string& diffusers_version() const { return diffusers_version_; }  // "" if absent

  // Every component model_index.json lists, null ones included, by name.
  const std::vector<Component>& components() const { return components_; }
  // Listed and not null.
  bool has(std::string_view name) const;
  // Throws ConfigError when the component is not listed or is null.
  const Component& component(std::string_view name) const;

  // The component's folder; FileError naming it when it is missing.
  std::filesystem::path directory(std::string_view name) const;
  // Its config file (see ComponentKind) and that file as a Config.
  std::filesystem::path config_path(std::string_view name) const;
  Config config(std::string_view name) const;
  // Another file of the component (a tokenizer's spiece.model, ...):
  // `find_file` gives nullopt when absent, `file` throws FileError.
  std::optional<std::filesystem::path> find_file(std::string_view name,
                                                 std::string_view file_name) const;
  std::filesystem::path file(std::string_view name, std::string_view file_name) const;

  // Which weights `weights` opens: a sharded index before a single file for
  // diffusers components, the other way round for transformers ones, as each
  // library looks. Throws FileError naming the folder when there are none,
  // and telling the user to convert when there are only pickle (.bin) files.
  WeightsFile weights_file(std::string_view name) const;
  std::shared_ptr<SafetensorsWeights> weights(std::string_view name) const;

 private:
  std::filesystem::path root_;
  std::string variant_;
  Config index_;
  std::string class_name_;
  std::string diffusers_version_;
  std::vector<Component> components_;
};

// The diffusers version written into model_index.json and configs.
inline constexpr std::string_view kDiffusersVersion = "0.30.3";

// Writes a pipeline folder that ModelFolder (and diffusers) can load.
// model_index.json is written last, by `finish`, so that an interrupted
// write leaves no folder that looks complete.
class ModelFolderWriter {
 public:
  ModelFolderWriter(std::filesystem::path root, std::string pipeline_class,
                    std::string diffusers_version = std::string(kDiffusersVersion));

  // Lists a component and creates its folder, which it returns.
  std::filesystem::path add_component(const std::string& name, const std::string& library,
                                      const std::string& class_name);
  // Lists a component as [null, null] (e.g. a pipeline saved without it).
  void add_null_component(const std::string& name);
  // A pipeline option in model_index.json (e.g. "requires_safety_checker").
  void set_option(const std::string& key, nlohmann::ordered_json value);

  // The component's config file (config.json, scheduler_config.json, ...).
  // diffusers components get `_class_name` and `_diffusers_version` unless
  // the config has them.
  void write_config(const std::string& name, const nlohmann::ordered_json& config);
  // The weights under the library's file name, with the variant, sharded
  // into files of at most `max_shard_bytes` when that is non-zero.
  void write_weights(const std::string& name, const NamedTensors& tensors,
                     const std::string& variant = "", uint64_t max_shard_bytes = 0);
  // Any other file of a component (tokenizer vocabularies).
  void write_file(const std::string& name, const std::string& file_name, std::string_view bytes);

  // Writes model_index.json; returns the folder.
  const std::filesystem::path& finish();

 private:
  const Component& listed(const std::string& name) const;
  void check_new_name(const std::string& name) const;

  std::filesystem::path root_;
  nlohmann::ordered_json index_;
  std::vector<Component> components_;
};

}  // namespace xdit::io
