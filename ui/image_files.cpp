#include "ui/image_files.hpp"

#include "core/error.hpp"
#include "io/config.hpp"
#include "io/png_image.hpp"
#include "ui/image_convert.hpp"
#include "workers/generate_settings.hpp"

namespace xdit::ui {
namespace {

constexpr const char* kSettingsKey = "xdit";
constexpr const char* kGroupKey = "xdit-group";

// A text chunk's JSON; ConfigError naming the file and chunk otherwise.
nlohmann::json parse(const std::string& text, const std::string& source, const std::string& key) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(source, key, std::string("is not JSON: ") + e.what());
  }
}

}  // namespace

void save_image(const std::filesystem::path& path, const QImage& image,
                const ImageSettings& settings) {
  workers::GenerateSettings generate;
  generate.group = settings.spec;
  generate.request = settings.request;
  pipelines::GenerationResult size;
  size.height = image.height();
  size.width = image.width();
  // As `xdit generate` records it, with the scheduler only when overridden
  // (the model's class would need its folder read here).
  nlohmann::json record = workers::settings_json(generate, settings.spec.scheduler, size);
  if (settings.spec.scheduler.empty())
    record.erase("scheduler");
  io::write_png(path, to_tensor(image),
                {{"Software", "xDiT Studio"},
                 {kSettingsKey, record.dump()},
                 {kGroupKey, workers::to_json(settings.spec).dump()}});
}

ImageSettings read_image_settings(const std::filesystem::path& path) {
  const io::PngImage png = io::read_png(path);
  const std::string source = path.string();
  const auto settings = png.text.find(kSettingsKey);
  if (settings == png.text.end())
    throw ConfigError(source, "xdit", "no such text chunk: the image carries no xdit settings");
  const nlohmann::json record = parse(settings->second, source, kSettingsKey);
  ImageSettings out;
  out.request = pipelines::request_from_json(record, source + " [xdit]");
  const auto group = png.text.find(kGroupKey);
  if (group != png.text.end()) {
    out.spec = workers::group_spec_from_json(parse(group->second, source, kGroupKey),
                                             source + " [xdit-group]");
    return out;
  }
  // An image of `xdit generate`: the group spec is spread over the record.
  const io::Config config(record, source + " [xdit]");
  out.spec.model = config.get_or<std::string>("model", out.spec.model);
  out.spec.device = config.get_or<std::string>("device", out.spec.device);
  out.spec.dtype = config.get_or<std::string>("dtype", out.spec.dtype);
  out.spec.world_size = config.get_or<int>("world_size", 1);
  out.spec.comm = config.get_or<std::string>("comm", out.spec.comm);
  if (record.contains("parallel"))
    out.spec.parallel = workers::parallel_config_from_json(record["parallel"], source + " [xdit]");
  return out;
}

}  // namespace xdit::ui
