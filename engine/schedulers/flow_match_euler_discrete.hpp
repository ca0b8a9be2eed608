#pragma once
// Euler steps on a rectified flow, as diffusers' FlowMatchEulerDiscreteScheduler
// v0.30.3: x_{t-1} = x_t + (sigma_next - sigma)·v. SD3 uses a static `shift`;
// Flux shifts by mu, computed from the image's token count (calculate_shift).

#include "schedulers/scheduler.hpp"

namespace xdit::schedulers {

// The Flux pipeline's mu: linear in the image token count, base_shift at
// base_seq_len and max_shift at max_seq_len.
double calculate_shift(int64_t image_seq_len, int64_t base_seq_len = 256,
                       int64_t max_seq_len = 4096, double base_shift = 0.5,
                       double max_shift = 1.16);

class FlowMatchEulerDiscreteScheduler final : public Scheduler {
 public:
  // Reads num_train_timesteps, shift, use_dynamic_shifting and the
  // calculate_shift settings; refuses later-version options with a ConfigError.
  explicit FlowMatchEulerDiscreteScheduler(const io::Config& config);

  const char* class_name() const override { return "FlowMatchEulerDiscreteScheduler"; }
  // With use_dynamic_shifting the request must carry mu; without it, mu is
  // ignored (as in diffusers) and `shift` applies, to explicit sigmas too.
  void set_timesteps(const TimestepRequest& request) override;
  std::optional<at::Tensor> sigmas() const override;
  std::optional<at::Tensor> alphas_cumprod() const override { return std::nullopt; }

  bool uses_dynamic_shifting() const { return dynamic_shifting_; }
  // calculate_shift with this config's base/max sequence lengths and shifts.
  double dynamic_shift_mu(int64_t image_seq_len) const;

 private:
  at::Tensor step_impl(const at::Tensor& model_output, int64_t step_index, const at::Tensor& sample,
                       SchedulerState& state) const override;

  int64_t num_train_timesteps_;
  double shift_;
  bool dynamic_shifting_;
  int64_t base_image_seq_len_;
  int64_t max_image_seq_len_;
  double base_shift_;
  double max_shift_;
  // The extremes of the (statically shifted, float32) training sigmas.
  double sigma_min_;
  double sigma_max_;
  at::Tensor sigmas_;  // after set_timesteps, float32 [N + 1]
};

}  // namespace xdit::schedulers
