// `xdit generate`: text to image with xDiT's flag names.

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "core/threads.hpp"
#include "io/model_folder.hpp"
#include "io/png_image.hpp"
#include "io/safetensors_writer.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/pixart_pipeline.hpp"
#include "xdit/commands.hpp"
#include "xdit/progress_bar.hpp"

namespace xdit::app {
namespace {

struct GenerateOptions {
  std::string model = "builtin:tiny-pixart";
  std::string variant;
  std::string dtype = "float32";
  std::string scheduler;
  std::string output_type = "pil";
  std::string output = "xdit_output.png";
  bool no_resolution_binning = false;
  int threads = 0;
  pipelines::GenerationRequest request;
};

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  throw UsageError("--dtype '" + name + "' is not supported (float32 or bfloat16)");
}

// image.png with several images: image_0.png, image_1.png, ...
std::filesystem::path numbered(const std::filesystem::path& path, int64_t index, int64_t count) {
  if (count == 1) return path;
  auto name = path.stem().string() + "_" + std::to_string(index) + path.extension().string();
  return path.parent_path() / name;
}

int run_generate(GenerateOptions options) {
  const at::ScalarType dtype = parse_dtype(options.dtype);
  if (options.output_type != "pil" && options.output_type != "latent") {
    throw UsageError("--output_type '" + options.output_type + "' is not supported (pil or latent)");
  }
  set_compute_threads(options.threads > 0 ? options.threads : available_cores());
  auto& request = options.request;
  request.use_resolution_binning = !options.no_resolution_binning;
  request.decode = options.output_type == "pil";

  const auto folder_path = pipelines::resolve_model(options.model);
  spdlog::info("loading {}", folder_path.string());
  const io::ModelFolder folder(folder_path, options.variant);
  pipelines::PipelineOptions pipeline_options;
  pipeline_options.dtype = dtype;
  if (!options.scheduler.empty()) pipeline_options.scheduler_class = options.scheduler;
  const auto pipeline = pipelines::PixArtPipeline::load(folder, pipeline_options);

  ProgressBar progress("denoising");
  pipelines::GenerationCallbacks callbacks;
  callbacks.on_step = [&](const pipelines::StepEvent& event) {
    progress.update(event.step, event.total);
  };
  const auto result = pipeline.generate(request, callbacks);
  progress.finish();

  nlohmann::json settings = pipelines::to_json(request);
  settings["model"] = options.model;
  settings["dtype"] = options.dtype;
  settings["scheduler"] = pipeline.make_scheduler()->class_name();
  settings["height"] = result.height;
  settings["width"] = result.width;
  const std::filesystem::path output(options.output);
  if (!output.parent_path().empty()) std::filesystem::create_directories(output.parent_path());
  if (!request.decode) {
    io::write_safetensors(output, {{"latents", result.latents}}, {{"xdit", settings.dump()}});
    std::printf("wrote %s (latents %s)\n", output.c_str(), c10::str(result.latents.sizes()).c_str());
    return 0;
  }
  const int64_t count = result.images.size(0);
  for (int64_t i = 0; i < count; ++i) {
    const auto path = numbered(output, i, count);
    io::write_png(path, result.images[i], {{"Software", "xdit 0.1.0"}, {"xdit", settings.dump()}});
    std::printf("wrote %s (%lldx%lld)\n", path.c_str(), static_cast<long long>(result.width),
                static_cast<long long>(result.height));
  }
  double total = 0;
  for (double s : result.step_seconds) total += s;
  std::printf("text encoding %.2f s, %zu steps %.2f s (%.3f s/step), decode %.2f s\n",
              result.encode_seconds, result.step_seconds.size(), total,
              total / static_cast<double>(result.step_seconds.size()), result.decode_seconds);
  return 0;
}

}  // namespace

CommandRunner add_generate_command(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  auto& request = options->request;
  CLI::App* command = app.add_subcommand("generate", "Generate images from a text prompt");
  command->add_option("--model", options->model,
                      "diffusers pipeline folder, or builtin:tiny-pixart (no download)")
      ->capture_default_str();
  command->add_option("--prompt", request.prompts, "Prompt(s); one image batch row each")
      ->required();
  command->add_option("--negative_prompt", request.negative_prompt, "Negative prompt");
  command->add_option("--height", request.height, "Image height in pixels (default: the model's)");
  command->add_option("--width", request.width, "Image width in pixels (default: the model's)");
  command->add_option("--num_inference_steps", request.num_inference_steps, "Denoising steps")
      ->capture_default_str();
  command->add_option("--guidance_scale", request.guidance_scale,
                      "Classifier-free guidance scale (<= 1 disables guidance)")
      ->capture_default_str();
  command->add_option("--seed", request.seed, "Random seed (same seed and settings, same image)")
      ->capture_default_str();
  command->add_option("--num_images_per_prompt", request.images_per_prompt, "Images per prompt")
      ->capture_default_str();
  command->add_option("--max_sequence_length", request.max_sequence_length,
                      "Text tokens (default 120 for PixArt-α, 300 for PixArt-Σ)");
  command->add_flag("--no_resolution_binning", options->no_resolution_binning,
                    "Generate at the requested size instead of the nearest trained aspect ratio");
  command->add_option("--output_type", options->output_type,
                      "pil: PNG image(s); latent: the final latents as safetensors")
      ->capture_default_str();
  command->add_option("--output,-o", options->output, "Output file")->capture_default_str();
  command->add_option("--dtype", options->dtype, "float32 or bfloat16")->capture_default_str();
  command->add_option("--variant", options->variant, "Weights variant, e.g. fp16");
  command->add_option("--scheduler", options->scheduler,
                      "Scheduler class instead of the model's (DPMSolverMultistepScheduler, "
                      "DDIMScheduler, EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler)");
  command->add_option("--threads", options->threads, "Compute threads (default: all cores)");
  return [options] { return run_generate(*options); };
}

}  // namespace xdit::app
