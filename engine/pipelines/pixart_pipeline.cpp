#include "pipelines/pixart_pipeline.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "core/error.hpp"
#include "core/large_allocation_reuse.hpp"
#include "core/torch_compat.hpp"
#include "models/chunked_conv.hpp"
#include "parallel/communicator.hpp"
#include "parallel/guidance.hpp"
#include "parallel/parallel_vae.hpp"
#include "parallel/pipefusion_layout.hpp"
#include "parallel/runner.hpp"
#include "parallel/tensor_parallel.hpp"
#include "pipelines/resolution_bins.hpp"

namespace xdit::pipelines {

struct PixArtPipeline::RankContext {
  std::unique_ptr<parallel::Communicator> own;  // serial: a world of one
  parallel::Communicator* comm = nullptr;
  std::unique_ptr<parallel::GroupPartialSums> tensor_sums;
  int64_t vae_chunk_rows = 0;
};

namespace {

using Clock = std::chrono::steady_clock;
using parallel::Dim;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

PixArtVariant variant_of(const io::ModelFolder& folder) {
  const std::string& name = folder.class_name();
  if (name == "PixArtAlphaPipeline")
    return PixArtVariant::kAlpha;
  if (name == "PixArtSigmaPipeline")
    return PixArtVariant::kSigma;
  throw ConfigError(folder.model_index().source(), "_class_name",
                    "is '" + name +
                        "'; this pipeline runs PixArtAlphaPipeline and "
                        "PixArtSigmaPipeline folders");
}

void expect_class(const io::ModelFolder& folder, std::string_view component,
                  std::initializer_list<std::string_view> accepted) {
  const std::string& name = folder.component(component).class_name;
  for (const auto& candidate : accepted) {
    if (name == candidate)
      return;
  }
  throw ConfigError(folder.model_index().source(), std::string(component),
                    "is a '" + name + "', which a PixArt pipeline cannot use");
}

// Builds a model from its component and checks that every tensor of the
// checkpoint was used (or deliberately skipped): a key left over means the
// config does not describe the checkpoint.
template <typename Model, typename Config, typename... Extra>
std::unique_ptr<Model> load_model(const io::ModelFolder& folder, std::string_view component,
                                  at::ScalarType dtype, at::Device device, Extra... extra) {
  const Config config = Config::from_config(folder.config(component));
  const io::Weights weights = io::Weights(folder.weights(component), dtype).to(device);
  auto model = std::make_unique<Model>(config, weights, extra...);
  weights.expect_all_used();
  return model;
}

// The size a request is generated at, from the model's sample size and the
// factor from latent patches to pixels.
ImageSize plan_size(const GenerationRequest& request, int64_t sample_size, int64_t vae_scale_factor,
                    int64_t patch_size) {
  ImageSize size;
  const int64_t default_side = sample_size * vae_scale_factor;
  size.height = request.height > 0 ? request.height : default_side;
  size.width = request.width > 0 ? request.width : default_side;
  size.generated_height = size.height;
  size.generated_width = size.width;
  const auto bins = aspect_ratio_bins(sample_size);
  if (request.use_resolution_binning && !bins.empty()) {
    const AspectRatioBin bin = nearest_bin(bins, size.height, size.width);
    size.generated_height = bin.height;
    size.generated_width = bin.width;
  } else if (request.use_resolution_binning) {
    spdlog::info("no aspect-ratio buckets for sample_size {}: generating {}x{} as asked",
                 sample_size, size.width, size.height);
  }
  check_image_size(size.generated_height, size.generated_width, vae_scale_factor * patch_size);
  return size;
}

parallel::ModelFacts model_facts(const models::PixArtConfig& config, int64_t vae_scale_factor,
                                 const ImageSize& size, const GenerationRequest& request) {
  parallel::ModelFacts facts;
  facts.num_attention_heads = static_cast<int>(config.num_attention_heads);
  facts.ffn_inner_dim = static_cast<int>(4 * config.inner_dim());
  facts.num_layers = static_cast<int>(config.num_layers);
  const int64_t patch_pixels = vae_scale_factor * config.patch_size;
  facts.latent_rows = static_cast<int>(size.generated_height / patch_pixels);
  facts.latent_cols = static_cast<int>(size.generated_width / patch_pixels);
  facts.batch =
      static_cast<int>(static_cast<int64_t>(request.prompts.size()) * request.images_per_prompt);
  facts.guidance = request.guidance_scale > 1.0;
  return facts;
}

void check_request(const GenerationRequest& request) {
  if (request.prompts.empty())
    throw UsageError("no prompt given");
  if (request.num_inference_steps < 1) {
    throw UsageError("num_inference_steps must be at least 1, got " +
                     std::to_string(request.num_inference_steps));
  }
  if (request.images_per_prompt < 1)
    throw UsageError("images per prompt must be at least 1");
}

// The texts of this rank's model batch: its rows of the batch once per
// guidance branch it computes (the negative prompt for the unconditional one).
std::vector<std::string> branch_texts(const parallel::Guidance& guidance,
                                      const std::vector<std::string>& rows,
                                      const std::string& negative_prompt) {
  std::vector<std::string> texts;
  for (const auto branch : guidance.branches()) {
    if (branch == parallel::Guidance::Branch::kUnconditional) {
      texts.insert(texts.end(), rows.size(), negative_prompt);
    } else {
      texts.insert(texts.end(), rows.begin(), rows.end());
    }
  }
  return texts;
}

// PixArt-α 1024 px's resolution and aspect-ratio conditions, one row per
// sample of the model batch.
void add_size_conditions(models::DitInputs& inputs, const ImageSize& size) {
  const int64_t model_batch = inputs.text.size(0);
  const auto height = static_cast<double>(size.generated_height);
  const auto width = static_cast<double>(size.generated_width);
  inputs.resolution =
      at::tensor({static_cast<float>(height), static_cast<float>(width)}).repeat({model_batch, 1});
  inputs.aspect_ratio = at::full({model_batch, 1}, static_cast<float>(height / width));
}

// Only the ranks at the origin of every dimension but data decode: one per
// data slice, and together they form rank 0's data group.
bool decodes_images(const parallel::Mesh& mesh) {
  for (const Dim dim : parallel::kAllDims) {
    if (dim != Dim::kData && mesh.coord(dim) != 0)
      return false;
  }
  return true;
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

parallel::ModelFacts pixart_model_facts(const io::ModelFolder& folder,
                                        const GenerationRequest& request) {
  check_request(request);
  const auto config = models::PixArtConfig::from_config(folder.config("transformer"));
  const int64_t factor =
      models::AutoencoderKLConfig::from_config(folder.config("vae")).spatial_scale();
  return model_facts(config, factor,
                     plan_size(request, config.sample_size, factor, config.patch_size), request);
}

PixArtPipeline::PixArtPipeline() = default;
PixArtPipeline::PixArtPipeline(PixArtPipeline&&) noexcept = default;
PixArtPipeline& PixArtPipeline::operator=(PixArtPipeline&&) noexcept = default;
PixArtPipeline::~PixArtPipeline() = default;

PixArtPipeline PixArtPipeline::load(const io::ModelFolder& folder, const PipelineOptions& options) {
  return load_rank(folder, options, nullptr);
}

PixArtPipeline PixArtPipeline::load(const io::ModelFolder& folder, const PipelineOptions& options,
                                    parallel::Communicator& comm) {
  return load_rank(folder, options, &comm);
}

PixArtPipeline PixArtPipeline::load_rank(const io::ModelFolder& folder,
                                         const PipelineOptions& options,
                                         parallel::Communicator* comm) {
  PixArtPipeline pipeline;
  pipeline.rank_ = std::make_unique<RankContext>();
  RankContext& rank = *pipeline.rank_;
  if (comm == nullptr) {
    rank.own =
        std::make_unique<parallel::Communicator>(parallel::Rendezvous{}, parallel::Mesh({}, 1, 0));
    comm = rank.own.get();
  }
  if (!comm->mesh())
    throw UsageError("a PixArt rank needs a communicator made with its mesh");
  rank.comm = comm;
  const parallel::Mesh& mesh = *comm->mesh();
  parallel::make_runner(*comm);  // refuse a method without a runner at load, not per request

  pipeline.variant_ = variant_of(folder);
  expect_class(folder, "tokenizer", {"T5Tokenizer", "T5TokenizerFast"});
  expect_class(folder, "text_encoder", {"T5EncoderModel"});
  expect_class(folder, "transformer", {"PixArtTransformer2DModel", "Transformer2DModel"});
  expect_class(folder, "vae", {"AutoencoderKL"});

  pipeline.tokenizer_ = std::make_unique<models::T5Tokenizer>(
      models::T5Tokenizer::from_folder(folder.directory("tokenizer")));
  // --text_encoder_on_cpu: float32 on the CPU, whatever the transformer runs on.
  const bool text_on_cpu = options.text_encoder_on_cpu;
  pipeline.text_encoder_ = load_model<models::T5Encoder, models::T5Config>(
      folder, "text_encoder", text_on_cpu ? at::kFloat : options.dtype,
      text_on_cpu ? at::Device(at::kCPU) : options.device);
  rank.tensor_sums = std::make_unique<parallel::GroupPartialSums>(comm->group(Dim::kTensor));
  // A PipeFusion stage reads only its own layers (the whole model otherwise).
  const auto num_layers =
      static_cast<int>(models::PixArtConfig::from_config(folder.config("transformer")).num_layers);
  pipeline.transformer_ = load_model<models::PixArtTransformer, models::PixArtConfig>(
      folder, "transformer", options.dtype, options.device,
      parallel::pipeline_stage(mesh.config(), num_layers, mesh.coord(Dim::kPipeline)),
      parallel::tensor_shard(mesh, *rank.tensor_sums));

  const auto vae_config = models::AutoencoderKLConfig::from_config(folder.config("vae"));
  pipeline.vae_scale_factor_ = vae_config.spatial_scale();
  rank.vae_chunk_rows = options.vae_chunk_rows;
  // --use_parallel_vae: every rank decodes a band of every image.
  if (decodes_images(mesh) || mesh.config().use_parallel_vae) {
    // The VAE decodes in float32 when its config asks for it (half precision
    // overflows in the SD VAE), as diffusers' pipelines upcast it.
    const auto vae_dtype = vae_config.force_upcast ? at::kFloat : options.dtype;
    const io::Weights vae_weights =
        io::Weights(folder.weights("vae"), vae_dtype).to(options.device);
    pipeline.vae_ = std::make_unique<models::AutoencoderKL>(vae_config, vae_weights,
                                                            models::AutoencoderKL::Parts::kDecoder);
    vae_weights.expect_all_used();
  }

  pipeline.scheduler_config_ = std::make_unique<io::Config>(folder.config("scheduler"));
  pipeline.scheduler_class_ = options.scheduler_class;
  pipeline.make_scheduler();  // fail at load, not at the first request
  return pipeline;
}

const models::AutoencoderKL& PixArtPipeline::vae() const {
  if (!vae_) {
    throw UsageError("rank " + std::to_string(rank_->comm->rank()) +
                     " did not load the VAE: only the ranks that decode images do");
  }
  return *vae_;
}

std::unique_ptr<schedulers::Scheduler> PixArtPipeline::make_scheduler() const {
  return schedulers::make_scheduler(*scheduler_config_, scheduler_class_);
}

int64_t PixArtPipeline::default_resolution() const {
  return transformer_->config().sample_size * vae_scale_factor();
}

int64_t PixArtPipeline::default_max_sequence_length() const {
  return variant_ == PixArtVariant::kSigma ? 300 : 120;
}

ImageSize PixArtPipeline::image_size(const GenerationRequest& request) const {
  const auto& config = transformer_->config();
  return plan_size(request, config.sample_size, vae_scale_factor(), config.patch_size);
}

PromptEmbeddings PixArtPipeline::encode_texts(const std::vector<std::string>& texts,
                                              int64_t max_sequence_length) const {
  std::vector<std::string> preprocessed;
  for (const auto& text : texts)
    preprocessed.push_back(models::preprocess_prompt(text));
  const models::T5Tokens tokens = tokenizer_->encode(preprocessed, max_sequence_length);
  at::Tensor embeddings = text_encoder_->forward(tokens.input_ids, tokens.attention_mask);
  return {embeddings.to(transformer_->device(), transformer_->dtype()),
          tokens.attention_mask.to(transformer_->device())};
}

at::Tensor PixArtPipeline::prepare_latents(int64_t batch, int64_t height, int64_t width,
                                           uint64_t seed,
                                           const schedulers::Scheduler& scheduler) const {
  const int64_t factor = vae_scale_factor();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  // float32 noise, as torch.randn with a CPU generator draws it.
  at::Tensor noise =
      at::randn({batch, transformer_->config().in_channels, height / factor, width / factor},
                generator, at::TensorOptions().dtype(at::kFloat));
  return noise.mul_(scheduler.init_noise_sigma());
}

at::Tensor PixArtPipeline::decode(const at::Tensor& latents) const {
  const auto& config = vae().config();
  at::Tensor z = latents.to(vae_->dtype()) / config.scaling_factor;
  if (config.shift_factor)
    z = z + *config.shift_factor;
  const int64_t factor = vae_scale_factor();
  const int64_t chunk_rows =
      rank_->vae_chunk_rows >= 0
          ? rank_->vae_chunk_rows
          : models::automatic_chunk_rows(z.size(2) * factor, z.size(3) * factor);
  at::Tensor image;
  if (rank_->comm->mesh()->config().use_parallel_vae) {
    image = parallel::decode_in_bands(*vae_, z, rank_->comm->world(), chunk_rows);
  } else if (chunk_rows > 0) {
    models::ChunkedSpatialOps chunked(chunk_rows);
    image = vae_->decode(z, chunked);
  } else {
    image = vae_->decode(z);
  }
  return (image.to(at::kCPU, at::kFloat) / 2 + 0.5).clamp_(0, 1);
}

GenerationResult PixArtPipeline::generate(const GenerationRequest& request,
                                          const GenerationCallbacks& callbacks) const {
  const compat::InferenceGuard no_grad;
  check_request(request);
  const ImageSize size = image_size(request);
  parallel::Communicator& comm = *rank_->comm;
  const parallel::Mesh& mesh = *comm.mesh();
  parallel::validate(mesh.config(), mesh.world_size(),
                     model_facts(transformer_->config(), vae_scale_factor(), size, request));
  const bool parallel_vae = mesh.config().use_parallel_vae && request.decode;
  if (parallel_vae) {
    // Refused before denoising rather than after.
    parallel::split_rows(size.generated_height / vae_scale_factor(), mesh.world_size(),
                         size.generated_height);
  }

  GenerationResult result;
  result.height = size.height;
  result.width = size.width;
  result.generated_height = size.generated_height;
  result.generated_width = size.generated_width;

  // The whole batch (each prompt images_per_prompt times), then this data
  // rank's equal share of it.
  std::vector<std::string> batch;
  for (const auto& prompt : request.prompts) {
    batch.insert(batch.end(), static_cast<size_t>(request.images_per_prompt), prompt);
  }
  parallel::Group& data = comm.group(Dim::kData);
  const auto rows = static_cast<int64_t>(batch.size()) / data.size();
  const int64_t first_row = rows * data.index();
  const std::vector<std::string> own(batch.begin() + first_row, batch.begin() + first_row + rows);

  const parallel::Guidance guidance(request.guidance_scale, comm.group(Dim::kCfg));
  auto start = Clock::now();
  const PromptEmbeddings prompt =
      encode_texts(branch_texts(guidance, own, request.negative_prompt),
                   request.max_sequence_length.value_or(default_max_sequence_length()));
  result.encode_seconds = seconds_since(start);

  auto scheduler = make_scheduler();
  scheduler->set_timesteps({request.num_inference_steps, {}, std::nullopt});
  // Every rank draws the whole batch's noise, so that each image's noise is
  // the serial run's whatever the split.
  const at::Tensor latents =
      prepare_latents(static_cast<int64_t>(batch.size()), size.generated_height,
                      size.generated_width, request.seed, *scheduler)
          .narrow(0, first_row, rows)
          .to(transformer_->device());

  const auto& config = transformer_->config();
  models::DitInputs inputs;
  inputs.text = prompt.embeddings;
  inputs.text_mask = prompt.mask;
  if (config.use_additional_conditions)
    add_size_conditions(inputs, size);

  parallel::DenoiseLoop loop;
  loop.scheduler = scheduler.get();
  loop.model_input = [&](const at::Tensor& x) { return guidance.model_input(x); };
  const bool learned_sigma = config.out_channels == 2 * config.in_channels;
  loop.noise = [&](const at::Tensor& output) {
    // Learned sigma: the second half of the channels is the variance.
    return guidance.combine(learned_sigma ? output.chunk(2, 1)[0] : output);
  };
  const int64_t steps = scheduler->timesteps().size(0);
  loop.on_step = [&](int64_t done, double seconds, const at::Tensor& x) {
    result.step_seconds.push_back(seconds);
    if (callbacks.on_step)
      callbacks.on_step({done, steps, seconds});
    if (callbacks.on_latents)
      callbacks.on_latents(x.defined() ? x.to(at::kCPU) : x, done);
  };
  const at::Tensor denoised = [&] {
    const LargeAllocationReuse reuse;  // every step allocates the same sizes
    return parallel::make_runner(comm)->denoise(*transformer_, latents, inputs, loop);
  }();
  // Only the ranks that finish the model hold latents (not PipeFusion's first stages).
  const at::Tensor gathered = data.all_gather(denoised, 0);
  result.latents = gathered.defined() ? gathered.to(at::kCPU) : gathered;
  if (!request.decode || !decodes())
    return result;

  start = Clock::now();
  // As xDiT: the whole world decodes the whole batch once denoising is done.
  const at::Tensor images = resize_and_crop(decode(parallel_vae ? result.latents : denoised),
                                            result.height, result.width);
  // As diffusers' numpy_to_pil: round(x * 255).
  const at::Tensor pixels =
      images.mul(255).round_().to(at::kByte).permute({0, 2, 3, 1}).contiguous();
  result.images = parallel_vae ? pixels : data.all_gather(pixels, 0);
  result.decode_seconds = seconds_since(start);
  return result;
}

}  // namespace xdit::pipelines
