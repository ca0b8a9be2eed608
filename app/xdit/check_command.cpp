// `xdit check-scene IMAGE`: grades an image against a scene caption
// (data/scene_check), the prompt stored in the PNG by default: whether
// builtin:scenes drew what it was asked, without a human looking.

#include <cstdio>
#include <memory>

#include "core/error.hpp"
#include "data/scene_check.hpp"
#include "io/config.hpp"
#include "io/png_image.hpp"
#include "pipelines/generation.hpp"
#include "xdit/commands.hpp"

namespace xdit::app {
namespace {

struct CheckOptions {
  std::filesystem::path image;
  std::string caption;
};

// The one prompt `xdit generate` wrote into the PNG's settings (read as
// the Studio reads them); ConfigError naming the file for broken settings.
std::string stored_prompt(const io::PngImage& png, const std::filesystem::path& path) {
  const auto it = png.text.find("xdit");
  if (it != png.text.end()) {
    const std::string source = path.string() + " [xdit]";
    const auto request = pipelines::request_from_json(io::parse_json(it->second, source), source);
    if (request.prompts.size() == 1)
      return request.prompts.front();
  }
  throw UsageError("xdit check-scene: " + path.string() +
                   " does not hold exactly one prompt in its settings; give --caption");
}

int run_check(const CheckOptions& options) {
  const io::PngImage png = io::read_png(options.image);
  const std::string caption =
      options.caption.empty() ? stored_prompt(png, options.image) : options.caption;
  const data::SceneCheck check = data::check_caption(png.rgb, caption);
  if (check.correct) {
    std::printf("%s shows \"%s\"\n", options.image.c_str(), caption.c_str());
    return 0;
  }
  std::printf("%s does not show \"%s\": %s\n", options.image.c_str(), caption.c_str(),
              check.why.c_str());
  return 1;
}

}  // namespace

CommandRunner add_check_command(CLI::App& app) {
  auto options = std::make_shared<CheckOptions>();
  CLI::App* command = app.add_subcommand(
      "check-scene",
      "Grade an image against a scene caption (builtin:scenes' world): exit status 0 when it "
      "shows it");
  command->add_option("image", options->image, "A PNG")->required();
  command->add_option("--caption", options->caption,
                      "The caption (default: the prompt stored in the PNG by xdit generate)");
  return [options] { return run_check(*options); };
}

}  // namespace xdit::app
