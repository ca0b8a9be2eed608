#pragma once
// DPM-Solver++ multistep (Lu et al. 2022, arXiv 2211.01095), as diffusers'
// DPMSolverMultistepScheduler with algorithm_type "dpmsolver++": the default
// scheduler of PixArt-α/Σ. Orders 1–3, midpoint or Heun second-order updates.
// The previous data predictions it extrapolates from live in SchedulerState.

#include "schedulers/noise_schedule.hpp"
#include "schedulers/scheduler.hpp"
#include "schedulers/timestep_spacing.hpp"

namespace xdit::schedulers {

class DpmSolverMultistepScheduler final : public Scheduler {
 public:
  // Reads every key of diffusers' class; refuses the SDE and noise-prediction
  // variants, thresholding and learned variance with a ConfigError.
  explicit DpmSolverMultistepScheduler(const io::Config& config);

  const char* class_name() const override { return "DPMSolverMultistepScheduler"; }
  void set_timesteps(const TimestepRequest& request) override;
  std::optional<at::Tensor> sigmas() const override;
  std::optional<at::Tensor> alphas_cumprod() const override { return alphas_cumprod_; }

 private:
  // Where the inference noise levels come from.
  enum class NoiseLevels { kTrainingGrid, kKarras, kUniformLogSnr };

  at::Tensor step_impl(const at::Tensor& model_output, int64_t step_index, const at::Tensor& sample,
                       SchedulerState& state) const override;
  at::Tensor data_prediction(const at::Tensor& model_output, int64_t step_index,
                             const at::Tensor& sample) const;
  at::Tensor first_order_update(const at::Tensor& x0, int64_t step_index,
                                const at::Tensor& sample) const;
  at::Tensor second_order_update(const std::vector<at::Tensor>& history, int64_t step_index,
                                 const at::Tensor& sample) const;
  at::Tensor third_order_update(const std::vector<at::Tensor>& history, int64_t step_index,
                                const at::Tensor& sample) const;

  int64_t num_train_timesteps_;
  int64_t solver_order_;
  PredictionType prediction_type_;
  bool heun_;
  bool lower_order_final_;
  bool euler_at_final_;
  bool final_sigma_zero_;
  NoiseLevels noise_levels_;
  double lambda_min_clipped_;
  TimestepSpacing spacing_;
  int64_t steps_offset_;
  at::Tensor alphas_cumprod_;
  at::Tensor sigmas_;  // after set_timesteps, float32 [N + 1]
};

}  // namespace xdit::schedulers
