#include "schedulers/euler_discrete.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace xdit::schedulers {

EulerDiscreteScheduler::EulerDiscreteScheduler(const io::Config& json) {
  const SchedulerConfig config(json);
  num_train_timesteps_ = config.get_or<int64_t>("num_train_timesteps", 1000);
  prediction_type_ = read_prediction_type(config);
  config.get_choice("interpolation_type", "linear", {"linear"});
  use_karras_sigmas_ = config.get_or<bool>("use_karras_sigmas", false);
  karras_sigma_min_ = config.get_optional<double>("sigma_min");
  karras_sigma_max_ = config.get_optional<double>("sigma_max");
  spacing_ = read_timestep_spacing(config, "linspace");
  // diffusers only switches to continuous timesteps for v-prediction.
  continuous_timesteps_ =
      config.get_choice("timestep_type", "discrete", {"discrete", "continuous"}) == "continuous" &&
      prediction_type_ == PredictionType::kVPrediction;
  steps_offset_ = config.get_or<int64_t>("steps_offset", 0);
  final_sigma_zero_ =
      config.get_choice("final_sigmas_type", "zero", {"zero", "sigma_min"}) == "zero";
  config.require_false("use_exponential_sigmas", "not part of diffusers v0.30.3");
  config.require_false("use_beta_sigmas", "not part of diffusers v0.30.3");
  alphas_cumprod_ = make_alphas_cumprod(config, ZeroSnrTerminal::kSmallestHalf);
}

std::optional<at::Tensor> EulerDiscreteScheduler::sigmas() const {
  require_timesteps();
  return sigmas_;
}

void EulerDiscreteScheduler::set_timesteps(const TimestepRequest& request) {
  check_request(request, /*flow_matching=*/false);
  const int64_t count = request.num_inference_steps;
  // numpy makes these float32 (linspace directly, the others after rounding).
  std::vector<double> timesteps =
      spaced_timesteps(spacing_, count, num_train_timesteps_, num_train_timesteps_, steps_offset_);
  for (double& t : timesteps)
    t = static_cast<float>(t);

  const at::Tensor training = vp_sigmas(alphas_cumprod_).to(at::kDouble).contiguous();
  const std::vector<double> training_sigmas(training.data_ptr<double>(),
                                            training.data_ptr<double>() + training.numel());
  std::vector<double> sigmas = interp_on_index_grid(timesteps, training_sigmas);
  if (use_karras_sigmas_) {
    std::vector<float> log_sigmas;
    for (const double sigma : training_sigmas) {
      log_sigmas.push_back(std::log(static_cast<float>(sigma)));
    }
    sigmas = karras_sigmas(karras_sigma_min_.value_or(sigmas.back()),
                           karras_sigma_max_.value_or(sigmas.front()), count);
    timesteps.clear();
    for (const double sigma : sigmas)
      timesteps.push_back(sigma_to_t(sigma, log_sigmas));
  }
  sigmas.push_back(final_sigma_zero_ ? 0.0 : training_sigmas.front());
  sigmas_ = at::tensor(sigmas, at::kDouble).to(at::kFloat);

  timesteps_ = continuous_timesteps_ ? 0.25 * at::log(sigmas_.slice(0, 0, -1))
                                     : at::tensor(timesteps, at::kDouble).to(at::kFloat);
}

double EulerDiscreteScheduler::init_noise_sigma() const {
  require_timesteps();
  const at::Tensor max_sigma = sigmas_.max();
  if (spacing_ != TimestepSpacing::kLeading)
    return max_sigma.item<double>();
  return at::pow(at::pow(max_sigma, 2) + 1, 0.5).item<double>();
}

at::Tensor EulerDiscreteScheduler::scale_model_input(const at::Tensor& sample,
                                                     int64_t step_index) const {
  require_timesteps();
  return sample / at::pow(at::pow(sigmas_[step_index], 2) + 1, 0.5);
}

at::Tensor EulerDiscreteScheduler::step_impl(const at::Tensor& model_output, int64_t step_index,
                                             const at::Tensor& sample,
                                             SchedulerState& /*state*/) const {
  const at::Tensor sigma = sigmas_[step_index];
  at::Tensor x0;
  switch (prediction_type_) {
    case PredictionType::kEpsilon:
      x0 = sample - sigma * model_output;
      break;
    case PredictionType::kSample:
      x0 = model_output;
      break;
    case PredictionType::kVPrediction:
      x0 = model_output * (-sigma / at::pow(at::pow(sigma, 2) + 1, 0.5)) +
           sample / (at::pow(sigma, 2) + 1);
      break;
  }
  const at::Tensor derivative = (sample - x0) / sigma;
  return sample + derivative * (sigmas_[step_index + 1] - sigma);
}

}  // namespace xdit::schedulers
