#pragma once
// Euler's method on the probability-flow ODE in the sigma parametrisation of
// Karras et al. 2022 (k-diffusion), as diffusers' EulerDiscreteScheduler
// without churn: the model sees x / sqrt(sigma² + 1), and the initial noise is
// scaled by the largest sigma.

#include "schedulers/noise_schedule.hpp"
#include "schedulers/scheduler.hpp"
#include "schedulers/timestep_spacing.hpp"

namespace xdit::schedulers {

class EulerDiscreteScheduler final : public Scheduler {
 public:
  // Reads every key of diffusers' class; refuses interpolation_type
  // "log_linear" and the post-v0.30.3 sigma schedules with a ConfigError.
  explicit EulerDiscreteScheduler(const io::Config& config);

  const char* class_name() const override { return "EulerDiscreteScheduler"; }
  void set_timesteps(const TimestepRequest& request) override;
  std::optional<at::Tensor> sigmas() const override;
  std::optional<at::Tensor> alphas_cumprod() const override { return alphas_cumprod_; }
  double init_noise_sigma() const override;
  at::Tensor scale_model_input(const at::Tensor& sample, int64_t step_index) const override;

 private:
  at::Tensor step_impl(const at::Tensor& model_output, int64_t step_index, const at::Tensor& sample,
                       SchedulerState& state) const override;

  int64_t num_train_timesteps_;
  PredictionType prediction_type_;
  bool use_karras_sigmas_;
  std::optional<double> karras_sigma_min_;
  std::optional<double> karras_sigma_max_;
  TimestepSpacing spacing_;
  bool continuous_timesteps_;  // timestep_type "continuous": the model sees 0.25·log(sigma)
  int64_t steps_offset_;
  bool final_sigma_zero_;
  at::Tensor alphas_cumprod_;
  at::Tensor sigmas_;  // after set_timesteps, float32 [N + 1]
};

}  // namespace xdit::schedulers
