#include "pipelines/prompt_encoder.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"
#include "models/clip_text_model.hpp"

namespace xdit::pipelines {
namespace {

class PixArtPromptEncoder final : public PromptEncoder {
 public:
  PixArtPromptEncoder(const io::ModelFolder& folder, PipelineKind kind,
                      const EncoderPlacement& placement)
      : t5_(folder, "tokenizer", "text_encoder", placement), kind_(kind) {}

  models::DitInputs encode(const std::vector<std::string>& texts,
                           int64_t max_sequence_length) const override {
    std::vector<std::string> cleaned;
    for (const auto& text : texts)
      cleaned.push_back(models::preprocess_prompt(text));
    const T5Embeddings t5 = t5_.encode(cleaned, max_sequence_length, /*masked=*/true);
    models::DitInputs inputs;
    inputs.text = t5.embeddings;
    inputs.text_mask = t5.mask;
    return inputs;
  }
  int64_t default_max_sequence_length() const override {
    return pipelines::default_max_sequence_length(kind_);
  }

 private:
  T5PromptEncoder t5_;
  PipelineKind kind_;
};

class SD3PromptEncoder final : public PromptEncoder {
 public:
  SD3PromptEncoder(const io::ModelFolder& folder, const EncoderPlacement& placement,
                   int64_t joint_attention_dim)
      : clip_l_(folder, "tokenizer", "text_encoder", true, placement),
        clip_g_(folder, "tokenizer_2", "text_encoder_2", true, placement),
        width_(joint_attention_dim) {
    const int64_t clip_width =
        models::ClipTextConfig::from_config(folder.config("text_encoder")).hidden_size +
        models::ClipTextConfig::from_config(folder.config("text_encoder_2")).hidden_size;
    if (clip_width > width_) {
      throw ConfigError(folder.config_path("transformer").string(), "joint_attention_dim",
                        std::to_string(width_) + " is narrower than the two CLIPs' " +
                            std::to_string(clip_width) + " channels");
    }
    // SD3 runs without T5 when the folder leaves it out (text_encoder_3 null).
    if (folder.has("text_encoder_3") && !folder.component("text_encoder_3").is_null())
      t5_.emplace(folder, "tokenizer_3", "text_encoder_3", placement);
  }

  models::DitInputs encode(const std::vector<std::string>& texts,
                           int64_t max_sequence_length) const override {
    const models::ClipTextOutput l = clip_l_.encode(texts);
    const models::ClipTextOutput g = clip_g_.encode(texts);
    at::Tensor clip = at::cat({l.penultimate, g.penultimate}, -1);
    clip = at::constant_pad_nd(clip, {0, width_ - clip.size(-1)});
    const auto rows = static_cast<int64_t>(texts.size());
    const at::Tensor t5 =
        t5_ ? t5_->encode(texts, max_sequence_length, /*masked=*/false).embeddings
            : at::zeros({rows, ClipPromptEncoder::kMaxLength, width_}, clip.options());
    models::DitInputs inputs;
    inputs.text = at::cat({clip, t5.to(clip.scalar_type())}, 1);
    inputs.pooled_text = at::cat({l.text_embeds, g.text_embeds}, -1);
    return inputs;
  }
  int64_t default_max_sequence_length() const override {
    return pipelines::default_max_sequence_length(PipelineKind::kSD3);
  }

 private:
  ClipPromptEncoder clip_l_;
  ClipPromptEncoder clip_g_;
  std::optional<T5PromptEncoder> t5_;
  int64_t width_;
};

class FluxPromptEncoder final : public PromptEncoder {
 public:
  FluxPromptEncoder(const io::ModelFolder& folder, const EncoderPlacement& placement)
      : clip_(folder, "tokenizer", "text_encoder", false, placement),
        t5_(folder, "tokenizer_2", "text_encoder_2", placement) {}

  models::DitInputs encode(const std::vector<std::string>& texts,
                           int64_t max_sequence_length) const override {
    models::DitInputs inputs;
    inputs.text = t5_.encode(texts, max_sequence_length, /*masked=*/false).embeddings;
    inputs.pooled_text = clip_.encode(texts).pooled;
    return inputs;
  }
  int64_t default_max_sequence_length() const override {
    return pipelines::default_max_sequence_length(PipelineKind::kFlux);
  }

 private:
  ClipPromptEncoder clip_;
  T5PromptEncoder t5_;
};

}  // namespace

PipelineKind pipeline_kind(const io::ModelFolder& folder) {
  const std::string& name = folder.class_name();
  if (name == "PixArtAlphaPipeline")
    return PipelineKind::kPixArtAlpha;
  if (name == "PixArtSigmaPipeline")
    return PipelineKind::kPixArtSigma;
  if (name == "StableDiffusion3Pipeline")
    return PipelineKind::kSD3;
  if (name == "FluxPipeline")
    return PipelineKind::kFlux;
  throw ConfigError(folder.model_index().source(), "_class_name",
                    "is '" + name +
                        "'; this engine runs PixArtAlphaPipeline, PixArtSigmaPipeline, "
                        "StableDiffusion3Pipeline and FluxPipeline folders");
}

int64_t default_max_sequence_length(PipelineKind kind) {
  switch (kind) {
    case PipelineKind::kPixArtAlpha:
      return 120;
    case PipelineKind::kPixArtSigma:
      return 300;
    case PipelineKind::kSD3:
      return 256;
    case PipelineKind::kFlux:
      return 512;
  }
  return 120;
}

const char* display_name(PipelineKind kind) {
  switch (kind) {
    case PipelineKind::kPixArtAlpha:
      return "PixArt-α";
    case PipelineKind::kPixArtSigma:
      return "PixArt-Σ";
    case PipelineKind::kSD3:
      return "SD3";
    case PipelineKind::kFlux:
      return "Flux.1";
  }
  return "?";
}

std::unique_ptr<PromptEncoder> load_prompt_encoder(const io::ModelFolder& folder, PipelineKind kind,
                                                   const EncoderPlacement& placement,
                                                   int64_t joint_attention_dim) {
  switch (kind) {
    case PipelineKind::kPixArtAlpha:
    case PipelineKind::kPixArtSigma:
      return std::make_unique<PixArtPromptEncoder>(folder, kind, placement);
    case PipelineKind::kSD3:
      return std::make_unique<SD3PromptEncoder>(folder, placement, joint_attention_dim);
    case PipelineKind::kFlux:
      return std::make_unique<FluxPromptEncoder>(folder, placement);
  }
  throw UsageError("unknown pipeline kind");
}

}  // namespace xdit::pipelines
