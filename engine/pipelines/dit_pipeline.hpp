#pragma once
// Text-to-image with a diffusion transformer, as diffusers' pipelines
// (v0.30.3) run it for every family this engine knows:
//   PixArtAlphaPipeline / PixArtSigmaPipeline: T5 with the padding mask,
//     classifier-free guidance, learned-sigma output split, aspect-ratio
//     binning, size conditions (α at 1024 px);
//   StableDiffusion3Pipeline (SD3, SD3.5): CLIP-L, CLIP-G and optional T5,
//     classifier-free guidance, flow matching with the config's shift;
//   FluxPipeline (dev, schnell): CLIP-L pooled and T5, the guidance scale as
//     an input of guidance-distilled models (no second branch), flow
//     matching with sigmas 1 .. 1/N and the resolution-dependent shift mu.
// The same seed and settings give the same image, and on CPU the same
// initial noise as diffusers with `torch.Generator().manual_seed(seed)`.
//
// One pipeline runs serially or as one rank of a process group. On a group,
// every rank loads its own pipeline (its PipeFusion stage and tensor-parallel
// shard of the transformer, the VAE only where images are decoded) and every
// rank calls generate() with the same request; the batch is split over data
// ranks, the guidance branches over cfg ranks, and the denoising loop runs
// through the parallel::Runner the mesh chooses, which sees the transformer
// through the DiT seam (models/dit.hpp) whatever its family.

#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/model_folder.hpp"
#include "models/autoencoder_kl.hpp"
#include "models/dit.hpp"
#include "models/dit_loader.hpp"
#include "parallel/parallel_config.hpp"
#include "pipelines/generation.hpp"
#include "pipelines/prompt_encoder.hpp"
#include "schedulers/scheduler.hpp"

namespace xdit::parallel {
class Communicator;
}  // namespace xdit::parallel

namespace xdit::pipelines {

struct PipelineOptions {
  at::ScalarType dtype = at::kFloat;  // of the transformer and text encoder
  at::Device device = at::kCPU;       // where this rank computes (core/device.hpp)
  // The text encoder on the CPU in float32 whatever `device` is: T5-XXL's
  // ~9 GiB stay off the GPU, for one encoding per request.
  bool text_encoder_on_cpu = false;
  std::optional<std::string> scheduler_class;  // override model's scheduler
  // The VAE's convolutions computed this many rows at a time, which bounds
  // their working memory on large images (models/chunked_conv.hpp); 0: whole
  // feature maps; -1: chosen by the image size (models::automatic_chunk_rows).
  int64_t vae_chunk_rows = -1;
};

// What a pipeline reads from its transformer's config.json beyond the DiT
// seam: sizes for the parallel checks and the family's conditioning.
struct TransformerFacts {
  models::DitFamily family = models::DitFamily::kPixArt;
  int64_t sample_size = 128;  // latent side it was trained at (Flux: diffusers' 128)
  int64_t patch_size = 2;     // latent pixels per token side (Flux: its 2 × 2 packing)
  int64_t latent_channels = 4;
  int64_t heads = 1;
  int64_t inner_dim = 1;
  int64_t num_layers = 1;           // the blocks in the list (Flux: double + single)
  int64_t text_width = 0;           // joint_attention_dim of SD3 and Flux
  bool guidance_distilled = false;  // Flux dev: the scale is an input
  bool size_conditions = false;     // PixArt-α 1024 px: resolution and aspect ratio
  bool learned_sigma = false;       // out_channels = 2 × latent: the variance follows
  // What one step does, for the cost model of the parallel methods:
  int64_t attentions = 1;          // attention calls over the image tokens (SD3.5: dual too)
  int64_t joint_attentions = 0;    // of them, joined by the text stream
  int64_t image_partial_sums = 0;  // row-parallel projections of the image tokens
  int64_t text_partial_sums = 0;   // ... and of the text stream's tokens
};

// Reads the folder's transformer config; ConfigError naming the file.
TransformerFacts transformer_facts(const io::ModelFolder& folder);

// Tokens of the text stream an MMDiT carries beside the image's for
// `request` (SD3: CLIP's 77 and T5's, Flux: T5's); 0 for PixArt, whose text
// is only cross-attended.
int64_t text_stream_tokens(const io::ModelFolder& folder, const GenerationRequest& request);

// The size a request is denoised at, after the defaults and binning.
struct ImageSize {
  int64_t height = 0;  // of the images returned
  int64_t width = 0;
  int64_t generated_height = 0;  // the bucket actually denoised
  int64_t generated_width = 0;
};

class DitPipeline {
 public:
  // Serial: loads every component from a diffusers folder, for this process
  // alone. Throws FileError / ConfigError / WeightError naming the file or
  // key that does not fit.
  static DitPipeline load(const io::ModelFolder& folder, const PipelineOptions& options = {});
  // One rank of the group `comm` (made with its Mesh): loads only what this
  // rank needs, i.e. its tensor-parallel shard of the transformer blocks and
  // the VAE only on the ranks that decode. Every rank of the group calls it.
  // `comm` must outlive the pipeline. Throws UsageError for a mesh whose
  // methods do not fit the model (tensor degree not dividing the heads, ...)
  // or that asks for a method not available yet (PipeFusion, DistriFusion).
  static DitPipeline load(const io::ModelFolder& folder, const PipelineOptions& options,
                          parallel::Communicator& comm);

  DitPipeline(DitPipeline&&) noexcept;
  DitPipeline& operator=(DitPipeline&&) noexcept;
  ~DitPipeline();

  // Serially, or on a group: every rank calls it with the same request. On a
  // group the request is checked against the mesh first (the same UsageError
  // on every rank, before any communication). The result's `latents` (the
  // whole batch) are valid on every rank; `images` (the whole batch) on rank
  // 0 and undefined on ranks that did not decode; `step_seconds` and the
  // other timings are this rank's. Callbacks run on every rank after each
  // step; `on_latents` sees this rank's rows of the batch (its data slice),
  // which on rank 0 start with the first image.
  GenerationResult generate(const GenerationRequest& request,
                            const GenerationCallbacks& callbacks = {}) const;

  PipelineKind kind() const { return kind_; }
  const TransformerFacts& facts() const { return facts_; }
  const models::DiffusionTransformer& transformer() const { return *transformer_; }
  // UsageError on a rank that did not load the VAE (it decodes nothing).
  const models::AutoencoderKL& vae() const;
  bool decodes() const { return vae_ != nullptr; }
  // Latent pixels per image pixel along a side.
  int64_t vae_scale_factor() const { return vae_scale_factor_; }
  // The image side the model was trained for (sample_size × VAE factor).
  int64_t default_resolution() const;
  int64_t default_max_sequence_length() const;
  // The size `request` is generated at; UsageError naming the setting when
  // it cannot be.
  ImageSize image_size(const GenerationRequest& request) const;

  // The steps of `generate`, public for the parallel runners and tests.
  // The transformer's text inputs for `texts`, on its device and in its dtype.
  models::DitInputs encode_texts(const std::vector<std::string>& texts,
                                 int64_t max_sequence_length) const;
  // Initial noise [batch, C, height / f, width / f] from `seed`.
  at::Tensor prepare_latents(int64_t batch, int64_t height, int64_t width, uint64_t seed,
                             const schedulers::Scheduler& scheduler) const;
  // Final latents -> float images in [0, 1], [B, 3, H, W]. With
  // --use_parallel_vae every rank of the world calls it with the same latents
  // and decodes a band of rows (parallel/parallel_vae.hpp).
  at::Tensor decode(const at::Tensor& latents) const;
  std::unique_ptr<schedulers::Scheduler> make_scheduler() const;

 private:
  struct RankContext;  // the communicator (its own world of one when serial)

  DitPipeline();
  static DitPipeline load_rank(const io::ModelFolder& folder, const PipelineOptions& options,
                               parallel::Communicator* comm);

  PipelineKind kind_ = PipelineKind::kPixArtAlpha;
  std::unique_ptr<PromptEncoder> prompt_encoder_;
  std::unique_ptr<models::DiffusionTransformer> transformer_;
  TransformerFacts facts_;
  std::unique_ptr<models::AutoencoderKL> vae_;
  int64_t vae_scale_factor_ = 8;
  std::unique_ptr<io::Config> scheduler_config_;
  std::optional<std::string> scheduler_class_;
  std::unique_ptr<RankContext> rank_;
};

// The image side and height/width checks shared by the CLI and the Studio:
// throws UsageError naming the setting when a size cannot be generated.
void check_image_size(int64_t height, int64_t width, int64_t multiple);

// What parallel::validate needs to know of a pipeline folder and a request,
// read from the configs alone, so that a launcher can refuse a mesh before
// starting any process: parallel::validate(config, nproc,
// model_facts(folder, request)).
parallel::ModelFacts model_facts(const io::ModelFolder& folder, const GenerationRequest& request);

// The guidance scale of a request: its own, or the family's default
// (PixArt 4.5, SD3 7.0, Flux dev 3.5, Flux schnell 0: none).
double guidance_scale(const GenerationRequest& request, const TransformerFacts& facts);

}  // namespace xdit::pipelines
