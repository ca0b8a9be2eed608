#pragma once
// The denoising schedulers, after diffusers v0.30.3. A Scheduler holds only
// the schedule (timesteps, noise levels); everything a multistep solver
// remembers between steps lives in a SchedulerState the caller owns. So one
// scheduler can step the whole latent, or each patch of it with the patch's
// own state (PipeFusion), with identical numbers: every update is elementwise.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/config.hpp"

namespace xdit::schedulers {

// How set_timesteps is called: a number of steps, or explicit noise levels
// (flow matching; the Flux pipeline passes linspace(1, 1/N, N)) and, for
// dynamic shifting, mu (see calculate_shift).
struct TimestepRequest {
  int64_t num_inference_steps = 0;  // may stay 0 when `sigmas` is given
  std::vector<double> sigmas;       // empty: derive them from the config
  std::optional<double> mu;
};

// The history of one independently stepped sample or patch. Start each
// generation (and each patch) from a default-constructed state.
struct SchedulerState {
  int64_t last_step_index = -1;     // -1 before the first step
  std::vector<at::Tensor> history;  // converted model outputs, oldest first (multistep solvers)
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;

  // The diffusers class this scheduler reproduces ("DDIMScheduler", ...).
  virtual const char* class_name() const = 0;

  virtual void set_timesteps(const TimestepRequest& request) = 0;

  // After set_timesteps: the timestep the model is conditioned on at each
  // step; int64 for DDIM and DPM-Solver, float32 for Euler and flow matching.
  const at::Tensor& timesteps() const;
  int64_t num_inference_steps() const;

  // After set_timesteps: float32 noise levels, one per step plus the final
  // one; nullopt for schedulers without sigmas (DDIM).
  virtual std::optional<at::Tensor> sigmas() const = 0;
  // The training alphas_cumprod (float32); nullopt for flow matching.
  virtual std::optional<at::Tensor> alphas_cumprod() const = 0;

  // The standard deviation to scale the initial Gaussian noise by.
  virtual double init_noise_sigma() const { return 1.0; }
  // What the model sees at `step_index`; the sample itself unless the
  // scheduler says otherwise (Euler divides by sqrt(sigma² + 1)).
  virtual at::Tensor scale_model_input(const at::Tensor& sample, int64_t step_index) const;

  // One denoising step: the sample at step_index + 1 from the model's output
  // at step_index. Steps of one state must come in order (step_index one past
  // the state's last); a fresh state may start anywhere (img2img). Float32.
  at::Tensor step(const at::Tensor& model_output, int64_t step_index, const at::Tensor& sample,
                  SchedulerState& state) const;

 protected:
  virtual at::Tensor step_impl(const at::Tensor& model_output, int64_t step_index,
                               const at::Tensor& sample, SchedulerState& state) const = 0;

  // Throws UsageError before set_timesteps.
  void require_timesteps() const;
  // Throws UsageError for a request this scheduler cannot serve; explicit
  // sigmas and mu belong to flow matching.
  void check_request(const TimestepRequest& request, bool flow_matching) const;

  at::Tensor timesteps_;
};

// The classes make_scheduler can build.
std::vector<std::string> supported_scheduler_classes();

// Builds the scheduler a scheduler_config.json describes (by `_class_name`),
// or `class_name` when given: like diffusers' `Other.from_config(config)`,
// the chosen class reads the keys it knows and defaults the rest.
std::unique_ptr<Scheduler> make_scheduler(const io::Config& config,
                                          const std::optional<std::string>& class_name = {});

}  // namespace xdit::schedulers
