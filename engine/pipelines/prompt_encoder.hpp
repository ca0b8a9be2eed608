#pragma once
// Prompts to transformer inputs, one implementation per pipeline family, as
// diffusers' pipelines encode them (v0.30.3):
//   PixArt-α/Σ  T5 with the padding mask (texts cleaned as diffusers does);
//   SD3/SD3.5   CLIP-L and CLIP-G penultimate states side by side, padded to
//               T5's width, then T5's states (zeros when the folder has no
//               T5); pooled: both CLIPs' projected EOS vectors;
//   Flux.1      T5's states; pooled: CLIP-L's EOS vector.

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "io/model_folder.hpp"
#include "models/dit.hpp"
#include "pipelines/text_encoders.hpp"

namespace xdit::pipelines {

enum class PipelineKind { kPixArtAlpha, kPixArtSigma, kSD3, kFlux };

// The kind of a diffusers folder, from model_index.json's _class_name;
// ConfigError naming the file for a pipeline this engine does not run.
PipelineKind pipeline_kind(const io::ModelFolder& folder);
// "PixArt-α", "PixArt-Σ", "SD3", "Flux.1".
const char* display_name(PipelineKind kind);

class PromptEncoder {
 public:
  virtual ~PromptEncoder() = default;
  // The text inputs (text, text_mask, pooled_text) of one row per text.
  virtual models::DitInputs encode(const std::vector<std::string>& texts,
                                   int64_t max_sequence_length) const = 0;
  // Text tokens when the request does not say (diffusers' defaults).
  virtual int64_t default_max_sequence_length() const = 0;
};

// Text tokens when the request does not say (diffusers' defaults): PixArt-α
// 120, PixArt-Σ 300, SD3 256, Flux 512.
int64_t default_max_sequence_length(PipelineKind kind);

// The encoders of a folder of `kind`. `joint_attention_dim`: the width the
// transformer takes its text at (SD3 pads CLIP's states to it).
std::unique_ptr<PromptEncoder> load_prompt_encoder(const io::ModelFolder& folder, PipelineKind kind,
                                                   const EncoderPlacement& placement,
                                                   int64_t joint_attention_dim);

}  // namespace xdit::pipelines
