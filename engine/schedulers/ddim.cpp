#include "schedulers/ddim.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"

namespace xdit::schedulers {

DdimScheduler::DdimScheduler(const io::Config& json) {
  const SchedulerConfig config(json);
  num_train_timesteps_ = config.get_or<int64_t>("num_train_timesteps", 1000);
  prediction_type_ = read_prediction_type(config);
  if (config.get_or<bool>("clip_sample", true)) {
    clip_range_ = config.get_or<double>("clip_sample_range", 1.0);
  }
  spacing_ = read_timestep_spacing(config, "leading");
  steps_offset_ = config.get_or<int64_t>("steps_offset", 0);
  config.require_false("thresholding", "dynamic thresholding is not implemented");
  alphas_cumprod_ = make_alphas_cumprod(config, ZeroSnrTerminal::kExactZero);
  final_alpha_cumprod_ = config.get_or<bool>("set_alpha_to_one", true)
                             ? at::scalar_tensor(1.0, at::kFloat)
                             : alphas_cumprod_[0];
}

void DdimScheduler::set_timesteps(const TimestepRequest& request) {
  check_request(request, /*flow_matching=*/false);
  const int64_t count = request.num_inference_steps;
  if (count > num_train_timesteps_) {
    throw UsageError("DDIMScheduler: " + std::to_string(count) +
                     " inference steps exceed num_train_timesteps " +
                     std::to_string(num_train_timesteps_));
  }
  std::vector<double> timesteps =
      spaced_timesteps(spacing_, count, num_train_timesteps_, num_train_timesteps_, steps_offset_);
  for (double& t : timesteps) {
    t = numpy_round(t);
    if (t < 0 || t >= static_cast<double>(num_train_timesteps_)) {
      throw UsageError("DDIMScheduler: timestep " + std::to_string(static_cast<int64_t>(t)) +
                       " (steps_offset " + std::to_string(steps_offset_) +
                       ") falls outside the trained range [0, " +
                       std::to_string(num_train_timesteps_) + ")");
    }
  }
  requested_steps_ = count;
  timesteps_ = at::tensor(timesteps, at::kDouble).to(at::kLong);
}

at::Tensor DdimScheduler::step_impl(const at::Tensor& model_output, int64_t step_index,
                                    const at::Tensor& sample, SchedulerState& /*state*/) const {
  // diffusers steps back a fixed stride from the current timestep, whatever
  // the spacing placed next.
  const int64_t timestep = timesteps_[step_index].item<int64_t>();
  const int64_t previous = timestep - num_train_timesteps_ / requested_steps_;
  const at::Tensor alpha = alphas_cumprod_[timestep];
  const at::Tensor alpha_prev = previous >= 0 ? alphas_cumprod_[previous] : final_alpha_cumprod_;
  const at::Tensor beta = 1 - alpha;

  at::Tensor x0;
  at::Tensor epsilon;
  switch (prediction_type_) {
    case PredictionType::kEpsilon:
      x0 = (sample - at::pow(beta, 0.5) * model_output) / at::pow(alpha, 0.5);
      epsilon = model_output;
      break;
    case PredictionType::kSample:
      x0 = model_output;
      epsilon = (sample - at::pow(alpha, 0.5) * x0) / at::pow(beta, 0.5);
      break;
    case PredictionType::kVPrediction:
      x0 = at::pow(alpha, 0.5) * sample - at::pow(beta, 0.5) * model_output;
      epsilon = at::pow(alpha, 0.5) * model_output + at::pow(beta, 0.5) * sample;
      break;
  }
  if (clip_range_)
    x0 = x0.clamp(-*clip_range_, *clip_range_);
  // With eta = 0 the step is deterministic: no variance term.
  return at::pow(alpha_prev, 0.5) * x0 + at::pow(1 - alpha_prev, 0.5) * epsilon;
}

}  // namespace xdit::schedulers
