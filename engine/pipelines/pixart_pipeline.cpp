#include "pipelines/pixart_pipeline.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "pipelines/resolution_bins.hpp"

namespace xdit::pipelines {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

PixArtVariant variant_of(const io::ModelFolder& folder) {
  const std::string& name = folder.class_name();
  if (name == "PixArtAlphaPipeline") return PixArtVariant::kAlpha;
  if (name == "PixArtSigmaPipeline") return PixArtVariant::kSigma;
  throw ConfigError(folder.model_index().source(), "_class_name",
                    "is '" + name + "'; this pipeline runs PixArtAlphaPipeline and "
                    "PixArtSigmaPipeline folders");
}

void expect_class(const io::ModelFolder& folder, std::string_view component,
                  std::initializer_list<std::string_view> accepted) {
  const std::string& name = folder.component(component).class_name;
  for (const auto& candidate : accepted) {
    if (name == candidate) return;
  }
  throw ConfigError(folder.model_index().source(), std::string(component),
                    "is a '" + name + "', which a PixArt pipeline cannot use");
}

// Builds a model from its component and checks that every tensor of the
// checkpoint was used: a key left over means the config does not describe
// the checkpoint.
template <typename Model, typename Config, typename... Extra>
std::unique_ptr<Model> load_model(const io::ModelFolder& folder, std::string_view component,
                                  at::ScalarType dtype, Extra... extra) {
  const Config config = Config::from_config(folder.config(component));
  const io::Weights weights(folder.weights(component), dtype);
  auto model = std::make_unique<Model>(config, weights, extra...);
  weights.expect_all_used();
  return model;
}

}  // namespace

void check_image_size(int64_t height, int64_t width, int64_t multiple) {
  for (const auto& [name, value] : {std::pair{"height", height}, std::pair{"width", width}}) {
    if (value <= 0 || value % multiple != 0) {
      throw UsageError(std::string(name) + " " + std::to_string(value) +
                       " must be a positive multiple of " + std::to_string(multiple) +
                       " (the VAE factor times the transformer's patch size)");
    }
  }
}

PixArtPipeline::PixArtPipeline(PixArtPipeline&&) noexcept = default;
PixArtPipeline& PixArtPipeline::operator=(PixArtPipeline&&) noexcept = default;
PixArtPipeline::~PixArtPipeline() = default;

PixArtPipeline PixArtPipeline::load(const io::ModelFolder& folder,
                                    const PipelineOptions& options) {
  PixArtPipeline pipeline;
  pipeline.variant_ = variant_of(folder);
  expect_class(folder, "tokenizer", {"T5Tokenizer", "T5TokenizerFast"});
  expect_class(folder, "text_encoder", {"T5EncoderModel"});
  expect_class(folder, "transformer", {"PixArtTransformer2DModel", "Transformer2DModel"});
  expect_class(folder, "vae", {"AutoencoderKL"});

  pipeline.tokenizer_ = std::make_unique<models::T5Tokenizer>(
      models::T5Tokenizer::from_folder(folder.directory("tokenizer")));
  pipeline.text_encoder_ =
      load_model<models::T5Encoder, models::T5Config>(folder, "text_encoder", options.dtype);
  pipeline.transformer_ = load_model<models::PixArtTransformer, models::PixArtConfig>(
      folder, "transformer", options.dtype);
  // The VAE decodes in float32 when its config asks for it (half precision
  // overflows in the SD VAE), as diffusers' pipelines upcast it.
  const auto vae_config = models::AutoencoderKLConfig::from_config(folder.config("vae"));
  const auto vae_dtype = vae_config.force_upcast ? at::kFloat : options.dtype;
  const io::Weights vae_weights(folder.weights("vae"), vae_dtype);
  pipeline.vae_ = std::make_unique<models::AutoencoderKL>(vae_config, vae_weights,
                                                          models::AutoencoderKL::Parts::kDecoder);
  vae_weights.expect_all_used();

  pipeline.scheduler_config_ = std::make_unique<io::Config>(folder.config("scheduler"));
  pipeline.scheduler_class_ = options.scheduler_class;
  pipeline.make_scheduler();  // fail at load, not at the first request
  return pipeline;
}

std::unique_ptr<schedulers::Scheduler> PixArtPipeline::make_scheduler() const {
  return schedulers::make_scheduler(*scheduler_config_, scheduler_class_);
}

int64_t PixArtPipeline::vae_scale_factor() const { return vae_->config().spatial_scale(); }

int64_t PixArtPipeline::default_resolution() const {
  return transformer_->config().sample_size * vae_scale_factor();
}

int64_t PixArtPipeline::default_max_sequence_length() const {
  return variant_ == PixArtVariant::kSigma ? 300 : 120;
}

PromptEmbeddings PixArtPipeline::encode_prompts(const std::vector<std::string>& prompts,
                                                const std::string& negative_prompt, bool guided,
                                                int64_t max_sequence_length) const {
  std::vector<std::string> texts;
  // diffusers concatenates [negative, positive]: unconditional rows first.
  if (guided) texts.assign(prompts.size(), models::preprocess_prompt(negative_prompt));
  for (const auto& prompt : prompts) texts.push_back(models::preprocess_prompt(prompt));
  const models::T5Tokens tokens = tokenizer_->encode(texts, max_sequence_length);
  at::Tensor embeddings = text_encoder_->forward(tokens.input_ids, tokens.attention_mask);
  return {embeddings.to(transformer_->dtype()), tokens.attention_mask};
}

at::Tensor PixArtPipeline::prepare_latents(int64_t batch, int64_t height, int64_t width,
                                           uint64_t seed,
                                           const schedulers::Scheduler& scheduler) const {
  const int64_t factor = vae_scale_factor();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  // float32 noise, as torch.randn with a CPU generator draws it.
  at::Tensor noise = at::randn(
      {batch, transformer_->config().in_channels, height / factor, width / factor}, generator,
      at::TensorOptions().dtype(at::kFloat));
  return noise.mul_(scheduler.init_noise_sigma());
}

at::Tensor PixArtPipeline::predict_noise(const at::Tensor& latents, const at::Tensor& timestep,
                                         const PromptEmbeddings& prompt, double guidance_scale,
                                         int64_t height, int64_t width) const {
  const bool guided = prompt.embeddings.size(0) == 2 * latents.size(0);
  const at::Tensor model_input =
      (guided ? at::cat({latents, latents}) : latents).to(transformer_->dtype());
  const int64_t batch = model_input.size(0);
  at::Tensor resolution;
  at::Tensor aspect_ratio;
  if (transformer_->config().use_additional_conditions) {
    resolution = at::tensor({static_cast<float>(height), static_cast<float>(width)})
                     .repeat({batch, 1});
    aspect_ratio = at::full({batch, 1}, static_cast<float>(static_cast<double>(height) /
                                                           static_cast<double>(width)));
  }
  at::Tensor noise = transformer_
                         ->forward(model_input, prompt.embeddings, timestep.expand({batch}),
                                   prompt.mask, resolution, aspect_ratio)
                         .to(at::kFloat);
  if (guided) {
    const auto halves = noise.chunk(2);
    noise = halves[0] + guidance_scale * (halves[1] - halves[0]);
  }
  // Learned sigma: the second half of the channels is the variance.
  if (transformer_->config().out_channels == 2 * latents.size(1)) noise = noise.chunk(2, 1)[0];
  return noise;
}

at::Tensor PixArtPipeline::decode(const at::Tensor& latents) const {
  const auto& config = vae_->config();
  at::Tensor z = latents.to(vae_->dtype()) / config.scaling_factor;
  if (config.shift_factor) z = z + *config.shift_factor;
  return (vae_->decode(z).to(at::kFloat) / 2 + 0.5).clamp_(0, 1);
}

GenerationResult PixArtPipeline::generate(const GenerationRequest& request,
                                          const GenerationCallbacks& callbacks) const {
  const compat::InferenceGuard no_grad;
  if (request.prompts.empty()) throw UsageError("no prompt given");
  if (request.num_inference_steps < 1) {
    throw UsageError("num_inference_steps must be at least 1, got " +
                     std::to_string(request.num_inference_steps));
  }
  if (request.images_per_prompt < 1) throw UsageError("images per prompt must be at least 1");

  GenerationResult result;
  result.height = request.height > 0 ? request.height : default_resolution();
  result.width = request.width > 0 ? request.width : default_resolution();
  result.generated_height = result.height;
  result.generated_width = result.width;
  const auto bins = aspect_ratio_bins(transformer_->config().sample_size);
  if (request.use_resolution_binning && !bins.empty()) {
    const AspectRatioBin bin = nearest_bin(bins, result.height, result.width);
    result.generated_height = bin.height;
    result.generated_width = bin.width;
  } else if (request.use_resolution_binning) {
    spdlog::info("no aspect-ratio buckets for sample_size {}: generating {}x{} as asked",
                 transformer_->config().sample_size, result.width, result.height);
  }
  check_image_size(result.generated_height, result.generated_width,
                   vae_scale_factor() * transformer_->config().patch_size);

  const bool guided = request.guidance_scale > 1.0;
  std::vector<std::string> prompts;
  for (const auto& prompt : request.prompts) {
    prompts.insert(prompts.end(), static_cast<size_t>(request.images_per_prompt), prompt);
  }
  auto start = Clock::now();
  const PromptEmbeddings prompt =
      encode_prompts(prompts, request.negative_prompt, guided,
                     request.max_sequence_length.value_or(default_max_sequence_length()));
  result.encode_seconds = seconds_since(start);

  auto scheduler = make_scheduler();
  scheduler->set_timesteps({request.num_inference_steps, {}, std::nullopt});
  at::Tensor latents = prepare_latents(static_cast<int64_t>(prompts.size()),
                                       result.generated_height, result.generated_width,
                                       request.seed, *scheduler);
  schedulers::SchedulerState state;
  const at::Tensor& timesteps = scheduler->timesteps();
  const int64_t steps = timesteps.size(0);
  for (int64_t i = 0; i < steps; ++i) {
    start = Clock::now();
    const at::Tensor model_input = scheduler->scale_model_input(latents, i);
    const at::Tensor noise =
        predict_noise(model_input, timesteps[i], prompt, request.guidance_scale,
                      result.generated_height, result.generated_width);
    latents = scheduler->step(noise, i, latents, state);
    result.step_seconds.push_back(seconds_since(start));
    if (callbacks.on_step) callbacks.on_step({i + 1, steps, result.step_seconds.back()});
    if (callbacks.on_latents) callbacks.on_latents(latents, i + 1);
  }
  result.latents = latents;
  if (!request.decode) return result;

  start = Clock::now();
  at::Tensor images = decode(latents);
  images = resize_and_crop(images, result.height, result.width);
  // As diffusers' numpy_to_pil: round(x * 255).
  result.images = images.mul(255).round_().to(at::kByte).permute({0, 2, 3, 1}).contiguous();
  result.decode_seconds = seconds_since(start);
  return result;
}

}  // namespace xdit::pipelines
