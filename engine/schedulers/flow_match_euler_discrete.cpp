#include "schedulers/flow_match_euler_discrete.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "core/error.hpp"
#include "schedulers/scheduler_config.hpp"
#include "schedulers/timestep_spacing.hpp"

namespace xdit::schedulers {

double calculate_shift(int64_t image_seq_len, int64_t base_seq_len, int64_t max_seq_len,
                       double base_shift, double max_shift) {
  const double slope = (max_shift - base_shift) / static_cast<double>(max_seq_len - base_seq_len);
  const double intercept = base_shift - slope * static_cast<double>(base_seq_len);
  return static_cast<double>(image_seq_len) * slope + intercept;
}

FlowMatchEulerDiscreteScheduler::FlowMatchEulerDiscreteScheduler(const io::Config& json) {
  const SchedulerConfig config(json);
  num_train_timesteps_ = config.get_or<int64_t>("num_train_timesteps", 1000);
  shift_ = config.get_or<double>("shift", 1.0);
  dynamic_shifting_ = config.get_or<bool>("use_dynamic_shifting", false);
  base_image_seq_len_ = config.get_or<int64_t>("base_image_seq_len", 256);
  max_image_seq_len_ = config.get_or<int64_t>("max_image_seq_len", 4096);
  base_shift_ = config.get_or<double>("base_shift", 0.5);
  max_shift_ = config.get_or<double>("max_shift", 1.15);
  for (const char* key :
       {"invert_sigmas", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"}) {
    config.require_false(key, "not part of diffusers v0.30.3");
  }
  if (config.get_optional<double>("shift_terminal")) {
    config.fail("shift_terminal", "is set, which is not supported: not part of diffusers v0.30.3");
  }
  if (num_train_timesteps_ < 1)
    config.fail("num_train_timesteps", "must be positive");

  // The training schedule t = T..1 as float32 sigmas, statically shifted
  // unless the shift is dynamic; set_timesteps spans its two extremes.
  const auto train_steps = static_cast<double>(num_train_timesteps_);
  at::Tensor extremes = at::tensor({train_steps, 1.0}, at::kFloat) / num_train_timesteps_;
  if (!dynamic_shifting_)
    extremes = shift_ * extremes / (1 + (shift_ - 1) * extremes);
  sigma_max_ = extremes[0].item<double>();
  sigma_min_ = extremes[1].item<double>();
}

std::optional<at::Tensor> FlowMatchEulerDiscreteScheduler::sigmas() const {
  require_timesteps();
  return sigmas_;
}

double FlowMatchEulerDiscreteScheduler::dynamic_shift_mu(int64_t image_seq_len) const {
  return calculate_shift(image_seq_len, base_image_seq_len_, max_image_seq_len_, base_shift_,
                         max_shift_);
}

void FlowMatchEulerDiscreteScheduler::set_timesteps(const TimestepRequest& request) {
  check_request(request, /*flow_matching=*/true);
  if (dynamic_shifting_ && !request.mu) {
    throw UsageError(
        "FlowMatchEulerDiscreteScheduler::set_timesteps: use_dynamic_shifting needs mu "
        "(see calculate_shift)");
  }
  std::vector<double> sigmas = request.sigmas;
  if (sigmas.empty()) {
    const auto train_steps = static_cast<double>(num_train_timesteps_);
    sigmas = numpy_linspace(sigma_max_ * train_steps, sigma_min_ * train_steps,
                            request.num_inference_steps);
    for (double& sigma : sigmas)
      sigma /= train_steps;
  }
  // v0.30.3 shifts here again, even though the training extremes above
  // already carry the static shift (SD3's sigmas are shifted twice).
  for (double& sigma : sigmas) {
    if (dynamic_shifting_) {
      sigma = std::exp(*request.mu) / (std::exp(*request.mu) + (1 / sigma - 1));
    } else {
      sigma = shift_ * sigma / (1 + (shift_ - 1) * sigma);
    }
  }
  const at::Tensor shifted = at::tensor(sigmas, at::kDouble).to(at::kFloat);
  timesteps_ = shifted * num_train_timesteps_;
  sigmas_ = at::cat({shifted, at::zeros({1}, at::kFloat)});
}

at::Tensor FlowMatchEulerDiscreteScheduler::step_impl(const at::Tensor& model_output,
                                                      int64_t step_index, const at::Tensor& sample,
                                                      SchedulerState& /*state*/) const {
  return sample + (sigmas_[step_index + 1] - sigmas_[step_index]) * model_output;
}

}  // namespace xdit::schedulers
