#include "pipelines/builtin_models.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/error.hpp"
#include "io/config.hpp"
#include "io/model_folder.hpp"
#include "models/pixart_transformer.hpp"
#include "pipelines/builtin_parts.hpp"

namespace xdit::pipelines {
namespace {

using Json = nlohmann::ordered_json;

using builtin::Json;

struct BuiltinModel {
  std::string_view name;
  // Bump the version when the model's files change, so that stale caches
  // are not used.
  std::string_view folder;
  // Null for a model that ships as files (trained, not made): `folder`
  // under the installed share/xdit/models, else the source tree's models/.
  void (*write)(const std::filesystem::path& folder);
};

void write_bench_pixart(const std::filesystem::path& folder) {
  write_builtin_pixart(folder, kBenchPixArtShape);
}

void write_bench_flux(const std::filesystem::path& folder) {
  write_builtin_flux(folder, kBenchFluxShape);
}

constexpr std::array<BuiltinModel, 6> kBuiltinModels = {{
    // Trained by `xdit train-builtin` to draw the scenes of data/scene.hpp.
    {"builtin:scenes", "builtin-scenes", nullptr},
    // Small enough for a 20-step image in seconds on one core.
    {"builtin:tiny-pixart", "tiny-pixart-v2", write_tiny_pixart},
    {"builtin:bench-pixart", "bench-pixart-v2", write_bench_pixart},
    {"builtin:tiny-sd3", "tiny-sd3-v1", write_tiny_sd3},
    {"builtin:tiny-flux", "tiny-flux-v1", write_tiny_flux},
    {"builtin:bench-flux", "bench-flux-v1", write_bench_flux},
}};

std::filesystem::path shipped_model(std::string_view folder) {
  std::vector<std::filesystem::path> candidates;
  std::error_code error;
  const auto executable = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    candidates.push_back(executable.parent_path() / ".." / "share" / "xdit" / "models" / folder);
  }
  candidates.push_back(std::filesystem::path(XDIT_SOURCE_MODELS_DIR) / folder);
  std::string tried;
  for (const auto& candidate : candidates) {
    if (std::filesystem::exists(candidate / "model_index.json"))
      return candidate.lexically_normal();
    tried += (tried.empty() ? "" : ", ") + candidate.lexically_normal().string();
  }
  throw FileError(std::string(folder),
                  "the built-in model's files are missing (looked in " + tried + ")");
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
  constexpr int64_t kTextWidth = 64;
  const Json transformer = builtin::pixart_transformer_config(shape, kTextWidth, true);
  io::ModelFolderWriter writer(folder, "PixArtAlphaPipeline");
  builtin::write_t5(writer, "tokenizer", "text_encoder", kTextWidth, 120);
  builtin::write_transformer<models::PixArtTransformer, models::PixArtConfig>(writer, transformer);
  builtin::write_vae(writer, 4, 0.18215, std::nullopt);
  builtin::write_scheduler(writer, builtin::pixart_scheduler_config());
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
  if (model->write == nullptr)
    return shipped_model(model->folder);
  const auto folder = cache_dir / model->folder;
  if (std::filesystem::exists(folder / "model_index.json"))
    return folder;
  // Writers only ever rename complete folders into place, so a folder
  // without model_index.json is debris from an older layout: replace it.
  std::filesystem::remove_all(folder);
  // Written beside the final place and renamed: concurrent writers (ranks of
  // one group, or threads of one process: the Studio inspects and checks a
  // model at once) each finish their own copy and the first rename wins.
  std::error_code error;
  std::filesystem::create_directories(cache_dir, error);
  if (error)
    throw FileError(cache_dir.string(), "cannot be created: " + error.message());
  static std::atomic<int> writers{0};
  const auto staging = cache_dir / (std::string(model->folder) + ".partial-" +
                                    std::to_string(::getpid()) + "-" + std::to_string(++writers));
  std::filesystem::remove_all(staging);
  model->write(staging);
  std::filesystem::rename(staging, folder, error);
  if (error)
    std::filesystem::remove_all(staging);
  if (!std::filesystem::exists(folder / "model_index.json")) {
    throw FileError(folder.string(), "could not be written: " + error.message());
  }
  return folder;
}

}  // namespace xdit::pipelines
