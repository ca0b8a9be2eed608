#pragma once
// The model `xdit train-builtin` trains to draw the scenes of data/scene.hpp:
// a PixArt-α-architecture pipeline (T5 text encoder with a word-level
// SentencePiece vocabulary of the captions, PixArt transformer predicting the
// noise, AutoencoderKL, DPM-Solver++), small enough to train on two CPU
// cores. Its configs are made here once, for training and for the diffusers
// folder the trained weights are written to.

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/safetensors_writer.hpp"

namespace xdit::train {

using Json = nlohmann::ordered_json;

struct SceneModelShape {
  int64_t image_size = 64;
  // The VAE's blocks: 2^(count - 1) image pixels per latent pixel.
  std::vector<int64_t> vae_channels{32, 64, 64};
  int64_t text_width = 64;
  int64_t layers = 6;
  int64_t heads = 4;
  int64_t head_dim = 32;
  // Captions are at most this many tokens (the longest has 24 with </s>).
  int64_t caption_tokens = 32;

  // Image pixels per latent pixel along each side.
  int64_t vae_factor() const;
  int64_t latent_size() const;
  Json to_json() const;
};

struct SceneModelConfigs {
  Json vae;
  Json transformer;
  Json text_encoder;
  Json scheduler;
  std::string spiece;  // the tokenizer's SentencePiece model
};

// The VAE's scaling_factor is 1 until training sets it to 1 / the standard
// deviation of its latents.
SceneModelConfigs scene_model_configs(const SceneModelShape& shape);

// Weights of one trained pipeline, by component.
struct SceneModelWeights {
  io::NamedTensors vae;
  io::NamedTensors transformer;
  io::NamedTensors text_encoder;
};

// Writes the diffusers folder `folder` (which must not exist), atomically.
void write_scene_model(const std::filesystem::path& folder, const SceneModelConfigs& configs,
                       const SceneModelWeights& weights);

}  // namespace xdit::train
