#pragma once
// PixArt-α / PixArt-Σ text-to-image, as diffusers' PixArtAlphaPipeline and
// PixArtSigmaPipeline (v0.30.3): T5 prompt encoding with the padding mask,
// classifier-free guidance in one batch, learned-sigma output split, the
// scheduler loop, VAE decode and aspect-ratio binning. The same seed and
// settings give the same image, and on CPU the same initial noise as
// diffusers with `torch.Generator().manual_seed(seed)`.

#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <string>

#include "io/model_folder.hpp"
#include "models/autoencoder_kl.hpp"
#include "models/pixart_transformer.hpp"
#include "models/t5_encoder.hpp"
#include "models/t5_tokenizer.hpp"
#include "pipelines/generation.hpp"
#include "schedulers/scheduler.hpp"

namespace xdit::pipelines {

enum class PixArtVariant { kAlpha, kSigma };

struct PipelineOptions {
  at::ScalarType dtype = at::kFloat;  // of the transformer and text encoder
  std::optional<std::string> scheduler_class;  // override model's scheduler
};

// Prompt embeddings with their masks, unconditional rows first when guided.
struct PromptEmbeddings {
  at::Tensor embeddings;  // [B, L, caption_channels]
  at::Tensor mask;        // [B, L] int64 keep-mask
};

class PixArtPipeline {
 public:
  // Loads every component from a diffusers folder. Throws FileError /
  // ConfigError / WeightError naming the file or key that does not fit.
  static PixArtPipeline load(const io::ModelFolder& folder, const PipelineOptions& options = {});

  PixArtPipeline(PixArtPipeline&&) noexcept;
  PixArtPipeline& operator=(PixArtPipeline&&) noexcept;
  ~PixArtPipeline();

  GenerationResult generate(const GenerationRequest& request,
                            const GenerationCallbacks& callbacks = {}) const;

  PixArtVariant variant() const { return variant_; }
  const models::PixArtTransformer& transformer() const { return *transformer_; }
  const models::AutoencoderKL& vae() const { return *vae_; }
  // Latent pixels per image pixel along a side.
  int64_t vae_scale_factor() const;
  // The image side the model was trained for (sample_size × VAE factor).
  int64_t default_resolution() const;
  int64_t default_max_sequence_length() const;

  // The steps of `generate`, public for the parallel runners and tests.
  PromptEmbeddings encode_prompts(const std::vector<std::string>& prompts,
                                  const std::string& negative_prompt, bool guided,
                                  int64_t max_sequence_length) const;
  // Initial noise [batch, C, height / f, width / f] from `seed`.
  at::Tensor prepare_latents(int64_t batch, int64_t height, int64_t width, uint64_t seed,
                             const schedulers::Scheduler& scheduler) const;
  // The model's noise prediction for `latents` at step `index`, guided.
  at::Tensor predict_noise(const at::Tensor& latents, const at::Tensor& timestep,
                           const PromptEmbeddings& prompt, double guidance_scale,
                           int64_t height, int64_t width) const;
  // Final latents -> float images in [0, 1], [B, 3, H, W].
  at::Tensor decode(const at::Tensor& latents) const;
  std::unique_ptr<schedulers::Scheduler> make_scheduler() const;

 private:
  PixArtPipeline() = default;

  PixArtVariant variant_ = PixArtVariant::kAlpha;
  std::unique_ptr<models::T5Tokenizer> tokenizer_;
  std::unique_ptr<models::T5Encoder> text_encoder_;
  std::unique_ptr<models::PixArtTransformer> transformer_;
  std::unique_ptr<models::AutoencoderKL> vae_;
  std::unique_ptr<io::Config> scheduler_config_;
  std::optional<std::string> scheduler_class_;
};

// The image side and height/width checks shared by the CLI and the Studio:
// throws UsageError naming the setting when a size cannot be generated.
void check_image_size(int64_t height, int64_t width, int64_t multiple);

}  // namespace xdit::pipelines
