#include "pipelines/dit_pipeline.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "core/error.hpp"
#include "core/large_allocation_reuse.hpp"
#include "core/torch_compat.hpp"
#include "io/shape_weights.hpp"
#include "models/chunked_conv.hpp"
#include "models/flux_transformer.hpp"
#include "models/pixart_transformer.hpp"
#include "models/sd3_transformer.hpp"
#include "parallel/communicator.hpp"
#include "parallel/guidance.hpp"
#include "parallel/parallel_vae.hpp"
#include "parallel/pipefusion_layout.hpp"
#include "parallel/runner.hpp"
#include "parallel/tensor_parallel.hpp"
#include "pipelines/resolution_bins.hpp"
#include "schedulers/flow_match_euler_discrete.hpp"

namespace xdit::pipelines {

struct DitPipeline::RankContext {
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

// The size a request is generated at: the model's default side, and
// PixArt's aspect-ratio buckets when binning is asked for.
ImageSize plan_size(const GenerationRequest& request, const TransformerFacts& facts,
                    int64_t vae_scale_factor) {
  ImageSize size;
  const int64_t default_side = facts.sample_size * vae_scale_factor;
  size.height = request.height > 0 ? request.height : default_side;
  size.width = request.width > 0 ? request.width : default_side;
  size.generated_height = size.height;
  size.generated_width = size.width;
  const bool binned = facts.family == models::DitFamily::kPixArt;
  const auto bins = binned ? aspect_ratio_bins(facts.sample_size) : std::vector<AspectRatioBin>{};
  if (request.use_resolution_binning && !bins.empty()) {
    const AspectRatioBin bin = nearest_bin(bins, size.height, size.width);
    size.generated_height = bin.height;
    size.generated_width = bin.width;
  } else if (request.use_resolution_binning && binned) {
    spdlog::info("no aspect-ratio buckets for sample_size {}: generating {}x{} as asked",
                 facts.sample_size, size.width, size.height);
  }
  check_image_size(size.generated_height, size.generated_width,
                   vae_scale_factor * facts.patch_size);
  return size;
}

parallel::ModelFacts parallel_facts(const TransformerFacts& model, int64_t vae_scale_factor,
                                    const ImageSize& size, const GenerationRequest& request) {
  parallel::ModelFacts facts;
  facts.num_attention_heads = static_cast<int>(model.heads);
  facts.ffn_inner_dim = static_cast<int>(4 * model.inner_dim);
  facts.num_layers = static_cast<int>(model.num_layers);
  const int64_t patch_pixels = vae_scale_factor * model.patch_size;
  facts.latent_rows = static_cast<int>(size.generated_height / patch_pixels);
  facts.latent_cols = static_cast<int>(size.generated_width / patch_pixels);
  facts.batch =
      static_cast<int>(static_cast<int64_t>(request.prompts.size()) * request.images_per_prompt);
  facts.single_branch = model.family == models::DitFamily::kFlux;
  facts.guidance = !facts.single_branch && guidance_scale(request, model) > 1.0;
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

// The schedule of a request. FluxPipeline passes sigmas 1 .. 1/N and, for
// a dynamically shifting scheduler, mu from the image's token count; the
// others let the scheduler space its own timesteps.
schedulers::TimestepRequest flux_timesteps(const GenerationRequest& request, int64_t image_tokens,
                                           const schedulers::Scheduler& scheduler) {
  schedulers::TimestepRequest timesteps{request.num_inference_steps, {}, std::nullopt};
  // As numpy.linspace(1, 1 / N, N) computes it, the last value exact.
  const int64_t n = request.num_inference_steps;
  const double last = 1.0 / static_cast<double>(n);
  const double step = n > 1 ? (last - 1.0) / static_cast<double>(n - 1) : 0.0;
  for (int64_t i = 0; i < n; ++i)
    timesteps.sigmas.push_back(i + 1 == n && n > 1 ? last : static_cast<double>(i) * step + 1.0);
  if (const auto* flow =
          dynamic_cast<const schedulers::FlowMatchEulerDiscreteScheduler*>(&scheduler);
      flow != nullptr && flow->uses_dynamic_shifting()) {
    timesteps.mu = flow->dynamic_shift_mu(image_tokens);
  }
  return timesteps;
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

TransformerFacts transformer_facts(const io::ModelFolder& folder) {
  const io::Config config = folder.config("transformer");
  TransformerFacts facts;
  facts.family =
      models::dit_family(folder.component("transformer").class_name, folder.model_index().source());
  // The sizes as the model itself derives them (Flux's 2 × 2 packing
  // included), from the config alone.
  const models::DitShape shape =
      models::load_dit(facts.family, config, io::shape_only_weights("transformer", at::kFloat))
          ->shape();
  facts.patch_size = shape.patch_size;
  facts.latent_channels = shape.latent_channels;
  facts.heads = shape.heads;
  facts.inner_dim = shape.inner_dim;
  facts.num_layers = shape.num_layers;
  facts.learned_sigma = shape.out_channels == 2 * shape.latent_channels;
  switch (facts.family) {
    case models::DitFamily::kPixArt: {
      const auto c = models::PixArtConfig::from_config(config);
      facts.sample_size = c.sample_size;
      facts.size_conditions = c.use_additional_conditions;
      facts.attentions = c.num_layers;
      // Self-attention out, cross-attention out, feed-forward out.
      facts.image_partial_sums = 3 * c.num_layers;
      break;
    }
    case models::DitFamily::kSD3: {
      const auto c = models::SD3Config::from_config(config);
      facts.sample_size = c.sample_size;
      facts.text_width = c.joint_attention_dim;
      const auto duals = static_cast<int64_t>(c.dual_attention_layers.size());
      facts.attentions = c.num_layers + duals;
      facts.joint_attentions = c.num_layers;
      // Attention out and MLP out of each stream (the last block's text
      // has neither), and each dual attention's out.
      facts.image_partial_sums = 2 * c.num_layers + duals;
      facts.text_partial_sums = 2 * (c.num_layers - 1);
      break;
    }
    case models::DitFamily::kFlux: {
      const auto c = models::FluxConfig::from_config(config);
      facts.sample_size = 128;  // FluxPipeline.default_sample_size
      facts.text_width = c.joint_attention_dim;
      facts.guidance_distilled = c.guidance_embeds;
      facts.attentions = facts.num_layers;
      facts.joint_attentions = facts.num_layers;
      // Double blocks: attention out and MLP out per stream; single blocks:
      // their one output projection, of both kinds of token.
      facts.image_partial_sums = 2 * c.num_layers + c.num_single_layers;
      facts.text_partial_sums = facts.image_partial_sums;
      break;
    }
  }
  return facts;
}

double guidance_scale(const GenerationRequest& request, const TransformerFacts& facts) {
  if (request.guidance_scale)
    return *request.guidance_scale;
  switch (facts.family) {
    case models::DitFamily::kPixArt:
      return 4.5;
    case models::DitFamily::kSD3:
      return 7.0;
    case models::DitFamily::kFlux:
      return facts.guidance_distilled ? 3.5 : 0.0;
  }
  return 0.0;
}

parallel::ModelFacts model_facts(const io::ModelFolder& folder, const GenerationRequest& request) {
  check_request(request);
  const TransformerFacts facts = transformer_facts(folder);
  const int64_t factor =
      models::AutoencoderKLConfig::from_config(folder.config("vae")).spatial_scale();
  return parallel_facts(facts, factor, plan_size(request, facts, factor), request);
}

int64_t text_stream_tokens(const io::ModelFolder& folder, const GenerationRequest& request) {
  const PipelineKind kind = pipeline_kind(folder);
  const int64_t length = request.max_sequence_length.value_or(default_max_sequence_length(kind));
  switch (kind) {
    case PipelineKind::kSD3: {
      const bool t5 = folder.has("text_encoder_3") && !folder.component("text_encoder_3").is_null();
      return ClipPromptEncoder::kMaxLength + (t5 ? length : ClipPromptEncoder::kMaxLength);
    }
    case PipelineKind::kFlux:
      return length;
    default:
      return 0;
  }
}

DitPipeline::DitPipeline() = default;
DitPipeline::DitPipeline(DitPipeline&&) noexcept = default;
DitPipeline& DitPipeline::operator=(DitPipeline&&) noexcept = default;
DitPipeline::~DitPipeline() = default;

DitPipeline DitPipeline::load(const io::ModelFolder& folder, const PipelineOptions& options) {
  return load_rank(folder, options, nullptr);
}

DitPipeline DitPipeline::load(const io::ModelFolder& folder, const PipelineOptions& options,
                              parallel::Communicator& comm) {
  return load_rank(folder, options, &comm);
}

DitPipeline DitPipeline::load_rank(const io::ModelFolder& folder, const PipelineOptions& options,
                                   parallel::Communicator* comm) {
  DitPipeline pipeline;
  pipeline.rank_ = std::make_unique<RankContext>();
  RankContext& rank = *pipeline.rank_;
  if (comm == nullptr) {
    rank.own =
        std::make_unique<parallel::Communicator>(parallel::Rendezvous{}, parallel::Mesh({}, 1, 0));
    comm = rank.own.get();
  }
  if (!comm->mesh())
    throw UsageError("a pipeline rank needs a communicator made with its mesh");
  rank.comm = comm;
  const parallel::Mesh& mesh = *comm->mesh();
  parallel::make_runner(*comm);  // refuse a method without a runner at load, not per request

  pipeline.kind_ = pipeline_kind(folder);
  expect_class(folder, "transformer",
               {pipeline.kind_ == PipelineKind::kSD3    ? "SD3Transformer2DModel"
                : pipeline.kind_ == PipelineKind::kFlux ? "FluxTransformer2DModel"
                                                        : "PixArtTransformer2DModel"});
  expect_class(folder, "vae", {"AutoencoderKL"});
  pipeline.facts_ = transformer_facts(folder);

  // --text_encoder_on_cpu: float32 on the CPU, whatever the transformer runs on.
  EncoderPlacement text_placement{options.dtype, options.device};
  if (options.text_encoder_on_cpu)
    text_placement = {at::kFloat, at::kCPU};
  pipeline.prompt_encoder_ =
      load_prompt_encoder(folder, pipeline.kind_, text_placement, pipeline.facts_.text_width);
  rank.tensor_sums = std::make_unique<parallel::GroupPartialSums>(comm->group(Dim::kTensor));
  // A PipeFusion stage reads only its own layers (the whole model otherwise).
  const io::Weights weights =
      io::Weights(folder.weights("transformer"), options.dtype).to(options.device);
  pipeline.transformer_ = models::load_dit(
      pipeline.facts_.family, folder.config("transformer"), weights,
      parallel::pipeline_stage(mesh.config(), static_cast<int>(pipeline.facts_.num_layers),
                               mesh.coord(Dim::kPipeline)),
      parallel::tensor_shard(mesh, *rank.tensor_sums));
  weights.expect_all_used();

  const auto vae_config = models::AutoencoderKLConfig::from_config(folder.config("vae"));
  if (vae_config.latent_channels != pipeline.facts_.latent_channels) {
    throw ConfigError(folder.config_path("vae").string(), "latent_channels",
                      std::to_string(vae_config.latent_channels) + " does not match the " +
                          std::to_string(pipeline.facts_.latent_channels) +
                          " latent channels of the transformer");
  }
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

const models::AutoencoderKL& DitPipeline::vae() const {
  if (!vae_) {
    throw UsageError("rank " + std::to_string(rank_->comm->rank()) +
                     " did not load the VAE: only the ranks that decode images do");
  }
  return *vae_;
}

std::unique_ptr<schedulers::Scheduler> DitPipeline::make_scheduler() const {
  return schedulers::make_scheduler(*scheduler_config_, scheduler_class_);
}

int64_t DitPipeline::default_resolution() const {
  return facts_.sample_size * vae_scale_factor();
}

int64_t DitPipeline::default_max_sequence_length() const {
  return prompt_encoder_->default_max_sequence_length();
}

ImageSize DitPipeline::image_size(const GenerationRequest& request) const {
  return plan_size(request, facts_, vae_scale_factor());
}

models::DitInputs DitPipeline::encode_texts(const std::vector<std::string>& texts,
                                            int64_t max_sequence_length) const {
  models::DitInputs inputs = prompt_encoder_->encode(texts, max_sequence_length);
  const auto here = [&](const at::Tensor& t, bool floating) {
    if (!t.defined())
      return t;
    return floating ? t.to(transformer_->device(), transformer_->dtype())
                    : t.to(transformer_->device());
  };
  inputs.text = here(inputs.text, true);
  inputs.text_mask = here(inputs.text_mask, false);
  inputs.pooled_text = here(inputs.pooled_text, true);
  return inputs;
}

at::Tensor DitPipeline::prepare_latents(int64_t batch, int64_t height, int64_t width, uint64_t seed,
                                        const schedulers::Scheduler& scheduler) const {
  const int64_t factor = vae_scale_factor();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  // float32 noise, as torch.randn with a CPU generator draws it (Flux's
  // pipeline draws the unpacked latent too, then packs it).
  at::Tensor noise = at::randn({batch, facts_.latent_channels, height / factor, width / factor},
                               generator, at::TensorOptions().dtype(at::kFloat));
  return noise.mul_(scheduler.init_noise_sigma());
}

at::Tensor DitPipeline::decode(const at::Tensor& latents) const {
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

GenerationResult DitPipeline::generate(const GenerationRequest& request,
                                       const GenerationCallbacks& callbacks) const {
  const compat::InferenceGuard no_grad;
  check_request(request);
  const ImageSize size = image_size(request);
  parallel::Communicator& comm = *rank_->comm;
  const parallel::Mesh& mesh = *comm.mesh();
  parallel::validate(mesh.config(), mesh.world_size(),
                     parallel_facts(facts_, vae_scale_factor(), size, request));
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

  // A guidance-distilled model (Flux dev) takes the scale as an input and
  // runs one branch; the others guide with a second, unconditional branch.
  const double scale = guidance_scale(request, facts_);
  const parallel::Guidance guidance(facts_.guidance_distilled ? 1.0 : scale, comm.group(Dim::kCfg));
  auto start = Clock::now();
  models::DitInputs inputs =
      encode_texts(branch_texts(guidance, own, request.negative_prompt),
                   request.max_sequence_length.value_or(default_max_sequence_length()));
  result.encode_seconds = seconds_since(start);
  if (facts_.guidance_distilled) {
    inputs.guidance = at::full({inputs.batch()}, scale, at::TensorOptions().dtype(at::kFloat))
                          .to(transformer_->device());
  }
  if (facts_.size_conditions)
    add_size_conditions(inputs, size);

  auto scheduler = make_scheduler();
  const int64_t token_pixels = vae_scale_factor() * facts_.patch_size;
  scheduler->set_timesteps(
      kind_ == PipelineKind::kFlux
          ? flux_timesteps(
                request,
                (size.generated_height / token_pixels) * (size.generated_width / token_pixels),
                *scheduler)
          : schedulers::TimestepRequest{request.num_inference_steps, {}, std::nullopt});
  // Every rank draws the whole batch's noise, so that each image's noise is
  // the serial run's whatever the split.
  const at::Tensor latents =
      prepare_latents(static_cast<int64_t>(batch.size()), size.generated_height,
                      size.generated_width, request.seed, *scheduler)
          .narrow(0, first_row, rows)
          .to(transformer_->device());

  parallel::DenoiseLoop loop;
  loop.scheduler = scheduler.get();
  loop.model_input = [&](const at::Tensor& x) { return guidance.model_input(x); };
  loop.noise = [&](const at::Tensor& output) {
    // Learned sigma: the second half of the channels is the variance.
    return guidance.combine(facts_.learned_sigma ? output.chunk(2, 1)[0] : output);
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
