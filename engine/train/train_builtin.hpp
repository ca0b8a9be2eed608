#pragma once
// `xdit train-builtin`: trains the scene model (train/scene_model.hpp) from
// scenes made at run time, with the project's own model code under LibTorch
// autograd: first the AutoencoderKL on images, then, on the latents of a
// fixed set of scenes, the PixArt transformer and the T5 text encoder
// together, predicting the noise of the DDPM schedule PixArt's scheduler
// samples from. Checkpoints are written to a work folder as it goes, so an
// interrupted run resumes where it stopped and gives the same weights as an
// uninterrupted one. The result is an ordinary diffusers folder.

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "train/scene_model.hpp"

namespace xdit::train {

struct TrainOptions {
  std::filesystem::path output;    // the diffusers folder written at the end
  std::filesystem::path work_dir;  // checkpoint and latent cache
  SceneModelShape shape;
  // A scene model folder (of the same shape) to start from instead of
  // random values: training continues from its weights, with fresh
  // optimizer moments. Empty: random starting values.
  std::filesystem::path init_from;
  // 0 keeps init_from's VAE as it is.
  int64_t vae_steps = 1000;
  int64_t vae_batch = 16;
  double vae_lr = 1e-3;
  // Scenes encoded once, which the transformer then learns from.
  int64_t scenes = 16384;
  int64_t transformer_steps = 6000;
  int64_t transformer_batch = 32;
  double transformer_lr = 5e-4;
  // Share of captions replaced by "" so that classifier-free guidance works.
  double caption_dropout = 0.1;
  uint64_t seed = 1;
  at::Device device = at::kCPU;
  double checkpoint_seconds = 120;

  // What a checkpoint must agree with to be resumed.
  Json to_json() const;
  // UsageError naming the setting for a value that cannot train.
  void validate() const;
};

struct TrainProgress {
  std::string phase;  // "vae", "latents" or "transformer"
  int64_t done = 0;
  int64_t total = 0;
  double loss = 0;  // mean of the last steps' losses (0 while encoding)
};

struct PhaseFigures {
  std::string phase;
  int64_t steps = 0;      // steps this run took (fewer when resumed)
  double seconds = 0;     // wall time this run spent on them
  double final_loss = 0;  // mean of the last steps' losses
};

struct TrainReport {
  bool finished = false;  // false: stopped early, the checkpoint holds the progress
  bool resumed = false;
  std::vector<PhaseFigures> phases;
  double scaling_factor = 0;
  int64_t vae_parameters = 0;
  int64_t transformer_parameters = 0;
  int64_t text_encoder_parameters = 0;
};

using TrainProgressCallback = std::function<void(const TrainProgress&)>;

// Runs (or resumes) the whole training and writes options.output. `stop`,
// when set, ends the run at the next step with a checkpoint written.
// Throws UsageError for bad options, FileError for a work folder whose
// checkpoint was made with other options, or an output folder that exists.
TrainReport train_builtin(const TrainOptions& options, const TrainProgressCallback& progress,
                          const std::atomic<bool>* stop = nullptr);

}  // namespace xdit::train
