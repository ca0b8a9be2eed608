#include "workers/result_files.hpp"

#include <cstdio>
#include <filesystem>

#include "core/error.hpp"
#include "io/png_image.hpp"
#include "io/safetensors_writer.hpp"

namespace xdit::workers {
namespace {

// image.png with several images: image_0.png, image_1.png, ...
std::filesystem::path numbered(const std::filesystem::path& path, int64_t index, int64_t count) {
  if (count == 1)
    return path;
  auto name = path.stem().string() + "_" + std::to_string(index) + path.extension().string();
  return path.parent_path() / name;
}

}  // namespace

std::vector<std::string> write_result_files(const pipelines::GenerationResult& result,
                                            const std::string& output, bool latents,
                                            const nlohmann::json& settings) {
  const std::filesystem::path path(output);
  if (!path.parent_path().empty())
    std::filesystem::create_directories(path.parent_path());
  if (latents) {
    io::write_safetensors(path, {{"latents", result.latents}}, {{"xdit", settings.dump()}});
    return {"wrote " + path.string() + " (latents " + c10::str(result.latents.sizes()) + ")"};
  }
  if (!result.images.defined())
    throw Error("the result holds no images to write");
  std::vector<std::string> lines;
  const int64_t count = result.images.size(0);
  for (int64_t i = 0; i < count; ++i) {
    const auto file = numbered(path, i, count);
    io::write_png(file, result.images[i], {{"Software", "xdit 0.1.0"}, {"xdit", settings.dump()}});
    lines.push_back("wrote " + file.string() + " (" + std::to_string(result.width) + "x" +
                    std::to_string(result.height) + ")");
  }
  return lines;
}

std::string timing_summary(const pipelines::GenerationResult& result) {
  double total = 0;
  for (double s : result.step_seconds)
    total += s;
  const size_t steps = result.step_seconds.size();
  char text[160];
  std::snprintf(text, sizeof(text),
                "text encoding %.2f s, %zu steps %.2f s (%.3f s/step), decode %.2f s",
                result.encode_seconds, steps, total,
                steps ? total / static_cast<double>(steps) : 0.0, result.decode_seconds);
  return text;
}

}  // namespace xdit::workers
