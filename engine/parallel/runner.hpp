#pragma once
// A runner owns the denoising loop of one rank: how the steps of a
// generation are spread over the ranks that share this rank's rows of the
// batch (its data slice and guidance branch). The pipeline splits the batch
// and the guidance branches around it and hands it the step's surroundings
// (DenoiseLoop); the runner decides which tokens and layers this rank
// computes and when. SynchronousRunner covers serial and the exact methods
// (sequence parallel, tensor parallel); PipeFusion and DistriFusion, which
// reuse stale activations and step patch by patch, plug in here as runners
// of their own. Runners see the model only through the DiT seam
// (models/dit.hpp), so every family runs under every method.

#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "models/dit.hpp"
#include "parallel/communicator.hpp"
#include "schedulers/scheduler.hpp"

namespace xdit::parallel {

// What the pipeline does around the transformer at every step.
struct DenoiseLoop {
  const schedulers::Scheduler* scheduler = nullptr;  // after set_timesteps
  // This rank's latents [b, C, h, w] (scaled for the model) -> the model
  // batch (both guidance branches when both run here).
  std::function<at::Tensor(const at::Tensor& latents)> model_input;
  // The transformer's float32 output for the model batch (any band of
  // rows, for runners that step bands) -> the noise of those latent rows.
  // May be collective (cfg parallel): every rank calls it alike.
  std::function<at::Tensor(const at::Tensor& model_output)> noise;
  // After each step: the steps done, that step's seconds, the latents.
  std::function<void(int64_t steps_done, double seconds, const at::Tensor& latents)> on_step;
};

// Times the denoising steps of one rank. Work on a GPU is queued, so a step
// ends when its device has done it: lap() waits for the device before it
// reads the clock (one wait per step, which costs the GPU nothing).
class StepClock {
 public:
  explicit StepClock(at::Device device);
  // The seconds since construction or the last lap, from now on the next lap.
  double lap();

 private:
  at::Device device_;
  std::chrono::steady_clock::time_point start_;
};

class Runner {
 public:
  virtual ~Runner() = default;
  // Every step of `loop.scheduler` from `latents` [b, C, h, w] (this rank's
  // rows, float32); returns the final latents of those rows, the same on
  // every rank that shares them.
  virtual at::Tensor denoise(const models::DiffusionTransformer& model, at::Tensor latents,
                             const models::DitInputs& inputs, const DenoiseLoop& loop) = 0;
};

// The runner the mesh of `comm` asks for. UsageError for a mesh with a
// method that has no runner yet.
std::unique_ptr<Runner> make_runner(Communicator& comm);

}  // namespace xdit::parallel
