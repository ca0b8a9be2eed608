#pragma once
// DDIM (Song et al. 2020), as diffusers' DDIMScheduler, deterministic (eta = 0):
// there is no way to ask for eta > 0, so no noise source is needed.

#include "schedulers/noise_schedule.hpp"
#include "schedulers/scheduler.hpp"
#include "schedulers/timestep_spacing.hpp"

namespace xdit::schedulers {

class DdimScheduler final : public Scheduler {
 public:
  // Reads every key of diffusers' class; refuses thresholding with a ConfigError.
  explicit DdimScheduler(const io::Config& config);

  const char* class_name() const override { return "DDIMScheduler"; }
  void set_timesteps(const TimestepRequest& request) override;
  std::optional<at::Tensor> sigmas() const override { return std::nullopt; }
  std::optional<at::Tensor> alphas_cumprod() const override { return alphas_cumprod_; }

 private:
  at::Tensor step_impl(const at::Tensor& model_output, int64_t step_index, const at::Tensor& sample,
                       SchedulerState& state) const override;

  int64_t num_train_timesteps_;
  PredictionType prediction_type_;
  std::optional<double> clip_range_;  // set when clip_sample is on
  TimestepSpacing spacing_;
  int64_t steps_offset_;
  at::Tensor alphas_cumprod_;
  at::Tensor final_alpha_cumprod_;  // alphas_cumprod "before" t = 0
  int64_t requested_steps_ = 0;     // diffusers steps back by num_train / this
};

}  // namespace xdit::schedulers
