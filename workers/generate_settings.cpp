#include "workers/generate_settings.hpp"

#include <sstream>

#include "core/device.hpp"
#include "core/error.hpp"
#include "schedulers/scheduler.hpp"

namespace xdit::workers {
namespace {

void add_parallel_flags(CLI::App& command, parallel::ParallelConfig& p) {
  const std::string group = "Parallel (xDiT's flags; their product is the number of processes)";
  command
      .add_option("--data_parallel_degree", p.data_degree, "Images of the batch split across ranks")
      ->group(group);
  command
      .add_flag_callback(
          "--use_cfg_parallel", [&p] { p.cfg_degree = 2; },
          "The two classifier-free guidance branches on two ranks (cfg degree 2)")
      ->group(group);
  command
      .add_option("--ulysses_degree", p.ulysses_degree,
                  "Sequence parallel: all-to-all between token and head splits")
      ->group(group);
  command
      .add_option("--ring_degree", p.ring_degree,
                  "Sequence parallel: K/V blocks passed around a ring")
      ->group(group);
  command
      .add_option("--tensor_parallel_degree", p.tensor_degree,
                  "Attention heads and feed-forward split across ranks")
      ->group(group);
  command
      .add_option("--pipefusion_parallel_degree", p.pipefusion_degree, "PipeFusion layer stages")
      ->group(group);
  command
      .add_option("--attn_layer_num_for_pp", p.attn_layer_num_for_pp,
                  "PipeFusion layers per stage, one count per stage (default: even)")
      ->group(group);
  command
      .add_option("--num_pipeline_patch", p.num_pipeline_patch,
                  "PipeFusion patches (default: one per stage)")
      ->group(group);
  command
      .add_option("--distrifusion_degree", p.distrifusion_degree,
                  "DistriFusion: displaced patches, other patches' K/V one step stale")
      ->group(group);
  command
      .add_flag("--use_parallel_vae", p.use_parallel_vae,
                "Decode on every rank after denoising, each a band of the image's rows")
      ->group(group);
  command
      .add_option("--warmup_steps", p.warmup_steps,
                  "PipeFusion and DistriFusion synchronous steps before stale activations")
      ->group(group);
}

}  // namespace

void add_generate_flags(CLI::App& command, GenerateSettings& settings) {
  auto& request = settings.request;
  auto& group = settings.group;
  command
      .add_option(
          "--model", group.model,
          "diffusers pipeline folder (PixArt-α/Σ, SD3/SD3.5, Flux.1), or a built-in "
          "one with no download: builtin:scenes (trained: \"a red circle on a blue background\", "
          "\"a small yellow star at the top left on a black background\"), "
          "builtin:tiny-pixart, builtin:tiny-sd3, builtin:tiny-flux (random weights)")
      ->capture_default_str();
  command.add_option("--prompt", request.prompts, "Prompt(s); one image batch row each")
      ->required();
  command.add_option("--negative_prompt", request.negative_prompt, "Negative prompt");
  command.add_option("--height", request.height, "Image height in pixels (default: the model's)");
  command.add_option("--width", request.width, "Image width in pixels (default: the model's)");
  command.add_option("--num_inference_steps", request.num_inference_steps, "Denoising steps")
      ->capture_default_str();
  command.add_option("--guidance_scale", request.guidance_scale,
                     "Guidance scale (<= 1: none; default: the model's, PixArt 4.5, SD3 7, "
                     "Flux dev 3.5, Flux schnell none)");
  command.add_option("--seed", request.seed, "Random seed (same seed and settings, same image)")
      ->capture_default_str();
  command.add_option("--num_images_per_prompt", request.images_per_prompt, "Images per prompt")
      ->capture_default_str();
  command.add_option("--max_sequence_length", request.max_sequence_length,
                     "Text tokens (default: the model's, PixArt-α 120, PixArt-Σ 300, SD3 256, "
                     "Flux 512)");
  command.add_flag("--no_resolution_binning", settings.no_resolution_binning,
                   "Generate at the requested size instead of the nearest trained aspect ratio");
  command
      .add_option("--output_type", settings.output_type,
                  "pil: PNG image(s); latent: the final latents as safetensors")
      ->capture_default_str();
  command.add_option("--output,-o", settings.output, "Output file")->capture_default_str();
  command
      .add_option("--device", group.device,
                  "auto, cpu, cuda or cuda:N (auto: the GPU when one is visible; on a "
                  "machine's group, rank r takes cuda:r)")
      ->capture_default_str();
  command
      .add_option("--dtype", group.dtype,
                  "auto, float32, bfloat16 or float16 (auto: bfloat16 on GPUs, float32 on CPUs)")
      ->capture_default_str();
  command
      .add_option("--comm", group.comm,
                  "How ranks on GPUs talk: auto (NCCL on GPUs, Gloo on CPUs), nccl (one GPU "
                  "per rank), or gloo (through host memory; ranks may share a GPU)")
      ->capture_default_str();
  command.add_flag("--text_encoder_on_cpu", group.text_encoder_on_cpu,
                   "Run the text encoder on the CPU in float32 (saves its GPU memory)");
  command.add_option("--variant", group.variant, "Weights variant, e.g. fp16");
  command.add_option("--scheduler", group.scheduler,
                     "Scheduler class instead of the model's (DPMSolverMultistepScheduler, "
                     "DDIMScheduler, EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler)");
  add_parallel_flags(command, group.parallel);
}

void finish_settings(GenerateSettings& settings) {
  if (settings.output_type != "pil" && settings.output_type != "latent") {
    throw UsageError("--output_type '" + settings.output_type +
                     "' is not supported (pil or latent)");
  }
  // A misspelling, or a GPU this machine lacks, is refused before any work starts.
  settings.group.target();
  settings.request.use_resolution_binning = !settings.no_resolution_binning;
  settings.request.decode = settings.output_type == "pil";
}

std::string scheduler_class(const io::ModelFolder& folder, const GroupSpec& spec) {
  return schedulers::make_scheduler(folder.config("scheduler"),
                                    spec.pipeline_options().scheduler_class)
      ->class_name();
}

std::vector<std::string> generate_words(const GroupSpec& spec,
                                        const pipelines::GenerationRequest& request) {
  const GroupSpec defaults;
  const pipelines::GenerationRequest plain;
  std::vector<std::string> words = {"--model", spec.model};
  const auto add = [&](const std::string& flag, const std::string& value) {
    words.insert(words.end(), {flag, value});
  };
  for (const std::string& prompt : request.prompts)
    add("--prompt", prompt);
  if (!request.negative_prompt.empty())
    add("--negative_prompt", request.negative_prompt);
  if (request.height > 0)
    add("--height", std::to_string(request.height));
  if (request.width > 0)
    add("--width", std::to_string(request.width));
  add("--num_inference_steps", std::to_string(request.num_inference_steps));
  if (request.guidance_scale) {
    std::ostringstream scale;
    scale << *request.guidance_scale;
    add("--guidance_scale", scale.str());
  }
  add("--seed", std::to_string(request.seed));
  if (request.images_per_prompt != plain.images_per_prompt)
    add("--num_images_per_prompt", std::to_string(request.images_per_prompt));
  if (request.max_sequence_length)
    add("--max_sequence_length", std::to_string(*request.max_sequence_length));
  if (!request.use_resolution_binning)
    words.push_back("--no_resolution_binning");
  if (!request.decode)
    add("--output_type", "latent");
  if (spec.device != defaults.device)
    add("--device", spec.device);
  if (spec.dtype != defaults.dtype)
    add("--dtype", spec.dtype);
  if (spec.comm != defaults.comm)
    add("--comm", spec.comm);
  if (spec.text_encoder_on_cpu)
    words.push_back("--text_encoder_on_cpu");
  if (!spec.variant.empty())
    add("--variant", spec.variant);
  if (!spec.scheduler.empty())
    add("--scheduler", spec.scheduler);
  if (!spec.gpus.empty())
    add("--gpus", spec.gpus);
  add("--nproc", std::to_string(spec.world_size));
  std::istringstream degrees(spec.parallel.flags());
  for (std::string word; degrees >> word;)
    words.push_back(word);
  if (!spec.parallel.attn_layer_num_for_pp.empty()) {
    words.push_back("--attn_layer_num_for_pp");
    for (int layers : spec.parallel.attn_layer_num_for_pp)
      words.push_back(std::to_string(layers));
  }
  if (spec.parallel.use_parallel_vae)
    words.push_back("--use_parallel_vae");
  return words;
}

nlohmann::json settings_json(const GenerateSettings& settings, const std::string& scheduler_class,
                             const pipelines::GenerationResult& result) {
  nlohmann::json json = pipelines::to_json(settings.request);
  json["model"] = settings.group.model;
  json["device"] = settings.group.device;
  json["dtype"] = settings.group.dtype;
  json["scheduler"] = scheduler_class;
  json["height"] = result.height;
  json["width"] = result.width;
  if (settings.group.world_size > 1) {
    json["parallel"] = to_json(settings.group.parallel);
    json["world_size"] = settings.group.world_size;
    json["comm"] = settings.group.comm;
  }
  return json;
}

}  // namespace xdit::workers
