#pragma once
// What a text-to-image request asks for, what it produces and how progress
// is reported. Plain values: the CLI, the worker protocol and the Studio all
// carry these.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace xdit::pipelines {

struct GenerationRequest {
  std::vector<std::string> prompts;  // one image batch row per prompt (times images_per_prompt)
  std::string negative_prompt;       // diffusers' default: ""
  int64_t height = 0;                // 0: the model's default (sample_size × VAE factor)
  int64_t width = 0;
  int64_t num_inference_steps = 20;
  // <= 1 disables classifier-free guidance; a guidance-distilled model
  // (Flux dev) takes it as an input instead. Unset: the model's default
  // (pipelines::guidance_scale).
  std::optional<double> guidance_scale;
  uint64_t seed = 0;
  int64_t images_per_prompt = 1;
  // Generate at the nearest trained aspect-ratio bucket, then resize and crop.
  bool use_resolution_binning = true;
  // Text tokens; unset: the model's default (PixArt-α 120, PixArt-Σ 300,
  // SD3 256, Flux 512).
  std::optional<int64_t> max_sequence_length;
  // Decode to pixels; false stops after denoising (`--output_type latent`).
  bool decode = true;
};

struct GenerationResult {
  at::Tensor images;   // uint8 [N, height, width, 3], undefined when not decoded
  at::Tensor latents;  // the final latents [N, C, h, w], float32, before VAE scaling
  int64_t height = 0;  // of the images (the request's size after binning and crop)
  int64_t width = 0;
  int64_t generated_height = 0;  // the bucket actually denoised
  int64_t generated_width = 0;
  std::vector<double> step_seconds;
  double encode_seconds = 0;
  double decode_seconds = 0;
};

struct StepEvent {
  int64_t step = 0;  // steps completed
  int64_t total = 0;
  double seconds = 0;  // of this step
};

struct GenerationCallbacks {
  std::function<void(const StepEvent&)> on_step;
  // Called after each step with the current latents; for previews.
  std::function<void(const at::Tensor& latents, int64_t step)> on_latents;
};

// The settings of a request as JSON (PNG metadata, worker protocol, reports)
// and back; `from_json` throws ConfigError naming a mistyped key.
nlohmann::json to_json(const GenerationRequest& request);
GenerationRequest request_from_json(const nlohmann::json& json, const std::string& source);

}  // namespace xdit::pipelines
