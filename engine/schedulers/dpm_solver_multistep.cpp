#include "schedulers/dpm_solver_multistep.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace xdit::schedulers {
namespace {

// The coefficients of one noise level in the form DPM-Solver works with:
// x_t = alpha·x0 + sigma·eps and lambda = log(alpha / sigma), from the
// scheduler's float32 sigma = sigma/alpha, with diffusers' float32 ops.
struct NoiseLevel {
  at::Tensor alpha;
  at::Tensor sigma;
  at::Tensor lambda;
};

NoiseLevel noise_level(const at::Tensor& sigmas, int64_t index) {
  const at::Tensor ratio = sigmas[index];
  at::Tensor alpha = at::reciprocal(at::pow(at::pow(ratio, 2) + 1, 0.5));
  at::Tensor sigma = ratio * alpha;
  at::Tensor lambda = at::log(alpha) - at::log(sigma);
  return {alpha, sigma, lambda};
}

std::vector<double> to_doubles(const at::Tensor& tensor) {
  const at::Tensor values = tensor.to(at::kDouble).contiguous();
  return {values.data_ptr<double>(), values.data_ptr<double>() + values.numel()};
}

}  // namespace

DpmSolverMultistepScheduler::DpmSolverMultistepScheduler(const io::Config& json) {
  const SchedulerConfig config(json);
  num_train_timesteps_ = config.get_or<int64_t>("num_train_timesteps", 1000);
  solver_order_ = config.get_or<int64_t>("solver_order", 2);
  if (solver_order_ < 1 || solver_order_ > 3) {
    config.fail("solver_order", "is " + std::to_string(solver_order_) + ", expected 1, 2 or 3");
  }
  prediction_type_ = read_prediction_type(config);
  // diffusers maps the retired "deis" / "logrho" / "bh1" / "bh2" to these.
  config.get_choice("algorithm_type", "dpmsolver++", {"dpmsolver++", "deis"});
  heun_ = config.get_choice("solver_type", "midpoint",
                            {"midpoint", "heun", "logrho", "bh1", "bh2"}) == "heun";
  lower_order_final_ = config.get_or<bool>("lower_order_final", true);
  euler_at_final_ = config.get_or<bool>("euler_at_final", false);
  final_sigma_zero_ =
      config.get_choice("final_sigmas_type", "zero", {"zero", "sigma_min"}) == "zero";
  noise_levels_ = config.get_or<bool>("use_karras_sigmas", false) ? NoiseLevels::kKarras
                  : config.get_or<bool>("use_lu_lambdas", false)  ? NoiseLevels::kUniformLogSnr
                                                                  : NoiseLevels::kTrainingGrid;
  lambda_min_clipped_ =
      config.get_or<double>("lambda_min_clipped", -std::numeric_limits<double>::infinity());
  spacing_ = read_timestep_spacing(config, "linspace");
  steps_offset_ = config.get_or<int64_t>("steps_offset", 0);
  config.require_false("thresholding", "dynamic thresholding is not implemented");
  config.require_false("use_exponential_sigmas", "not part of diffusers v0.30.3");
  config.require_false("use_beta_sigmas", "not part of diffusers v0.30.3");
  config.require_false("use_flow_sigmas", "not part of diffusers v0.30.3");
  const auto variance = config.get_optional<std::string>("variance_type");
  if (variance && (*variance == "learned" || *variance == "learned_range")) {
    config.fail("variance_type", "is '" + *variance +
                                     "': pass only the predicted mean (split learned sigma off "
                                     "in the pipeline) and leave variance_type null");
  }
  alphas_cumprod_ = make_alphas_cumprod(config, ZeroSnrTerminal::kSmallestHalf);
}

std::optional<at::Tensor> DpmSolverMultistepScheduler::sigmas() const {
  require_timesteps();
  return sigmas_;
}

void DpmSolverMultistepScheduler::set_timesteps(const TimestepRequest& request) {
  check_request(request, /*flow_matching=*/false);
  const int64_t count = request.num_inference_steps;

  // Clip the noisy end where lambda(t) falls below lambda_min_clipped (the
  // cosine schedule's last steps are numerically unusable).
  const at::Tensor lambdas =
      at::log(alphas_cumprod_.sqrt()) - at::log((1 - alphas_cumprod_).sqrt());
  const int64_t clipped =
      at::searchsorted(at::flip(lambdas, {0}), lambda_min_clipped_).item<int64_t>();
  const int64_t last_timestep = num_train_timesteps_ - clipped;

  std::vector<double> timesteps;
  if (spacing_ == TimestepSpacing::kTrailing) {
    timesteps = spaced_timesteps(spacing_, count, last_timestep, num_train_timesteps_, 0);
  } else {
    // One point more than steps, then the t = 0 end is dropped.
    timesteps =
        spaced_timesteps(spacing_, count + 1, last_timestep, num_train_timesteps_, steps_offset_);
    timesteps.pop_back();
    for (double& t : timesteps)
      t = numpy_round(t);
  }

  const std::vector<double> training_sigmas = to_doubles(vp_sigmas(alphas_cumprod_));
  std::vector<float> log_sigmas;
  for (const double sigma : training_sigmas) {
    log_sigmas.push_back(std::log(static_cast<float>(sigma)));
  }
  std::vector<double> sigmas;
  if (noise_levels_ == NoiseLevels::kTrainingGrid) {
    sigmas = interp_on_index_grid(timesteps, training_sigmas);
  } else {
    if (noise_levels_ == NoiseLevels::kKarras) {
      sigmas = karras_sigmas(training_sigmas.front(), training_sigmas.back(), count);
    } else {
      // Uniform in lambda = -log sigma between the training extremes.
      const double lambda_min = log_sigmas.front();
      const double lambda_max = log_sigmas.back();
      for (const double ramp : numpy_linspace(0, 1, count)) {
        sigmas.push_back(std::exp(lambda_max + ramp * (lambda_min - lambda_max)));
      }
    }
    timesteps.clear();
    for (const double sigma : sigmas)
      timesteps.push_back(numpy_round(sigma_to_t(sigma, log_sigmas)));
  }
  sigmas.push_back(final_sigma_zero_ ? 0.0 : training_sigmas.front());

  sigmas_ = at::tensor(sigmas, at::kDouble).to(at::kFloat);
  timesteps_ = at::tensor(timesteps, at::kDouble).to(at::kLong);
}

at::Tensor DpmSolverMultistepScheduler::data_prediction(const at::Tensor& model_output,
                                                        int64_t step_index,
                                                        const at::Tensor& sample) const {
  if (prediction_type_ == PredictionType::kSample)
    return model_output;
  const NoiseLevel s = noise_level(sigmas_, step_index);
  if (prediction_type_ == PredictionType::kEpsilon) {
    return (sample - s.sigma * model_output) / s.alpha;
  }
  return s.alpha * sample - s.sigma * model_output;
}

at::Tensor DpmSolverMultistepScheduler::step_impl(const at::Tensor& model_output,
                                                  int64_t step_index, const at::Tensor& sample,
                                                  SchedulerState& state) const {
  const auto previous = static_cast<int64_t>(state.history.size());
  state.history.push_back(data_prediction(model_output, step_index, sample));
  if (static_cast<int64_t>(state.history.size()) > solver_order_) {
    state.history.erase(state.history.begin());
  }

  // Lower orders at the end keep few-step sampling stable; a final sigma of 0
  // makes the last step's lambda infinite, which only first order survives.
  const int64_t steps = num_inference_steps();
  const bool short_schedule = lower_order_final_ && steps < 15;
  const bool first_order_final =
      step_index == steps - 1 && (euler_at_final_ || short_schedule || final_sigma_zero_);
  const bool second_order_final = step_index == steps - 2 && short_schedule;

  if (solver_order_ == 1 || previous < 1 || first_order_final) {
    return first_order_update(state.history.back(), step_index, sample);
  }
  if (solver_order_ == 2 || previous < 2 || second_order_final) {
    return second_order_update(state.history, step_index, sample);
  }
  return third_order_update(state.history, step_index, sample);
}

// The first-order update equals DDIM.
at::Tensor DpmSolverMultistepScheduler::first_order_update(const at::Tensor& x0, int64_t step_index,
                                                           const at::Tensor& sample) const {
  const NoiseLevel t = noise_level(sigmas_, step_index + 1);
  const NoiseLevel s = noise_level(sigmas_, step_index);
  const at::Tensor h = t.lambda - s.lambda;
  return (t.sigma / s.sigma) * sample - (t.alpha * (at::exp(-h) - 1.0)) * x0;
}

at::Tensor DpmSolverMultistepScheduler::second_order_update(const std::vector<at::Tensor>& history,
                                                            int64_t step_index,
                                                            const at::Tensor& sample) const {
  const NoiseLevel t = noise_level(sigmas_, step_index + 1);
  const NoiseLevel s0 = noise_level(sigmas_, step_index);
  const NoiseLevel s1 = noise_level(sigmas_, step_index - 1);
  const at::Tensor& m0 = history.end()[-1];
  const at::Tensor& m1 = history.end()[-2];
  const at::Tensor h = t.lambda - s0.lambda;
  const at::Tensor r0 = (s0.lambda - s1.lambda) / h;
  const at::Tensor d1 = (1.0 / r0) * (m0 - m1);
  const at::Tensor first = (t.sigma / s0.sigma) * sample - (t.alpha * (at::exp(-h) - 1.0)) * m0;
  if (heun_)
    return first + (t.alpha * ((at::exp(-h) - 1.0) / h + 1.0)) * d1;
  return first - 0.5 * (t.alpha * (at::exp(-h) - 1.0)) * d1;
}

at::Tensor DpmSolverMultistepScheduler::third_order_update(const std::vector<at::Tensor>& history,
                                                           int64_t step_index,
                                                           const at::Tensor& sample) const {
  const NoiseLevel t = noise_level(sigmas_, step_index + 1);
  const NoiseLevel s0 = noise_level(sigmas_, step_index);
  const NoiseLevel s1 = noise_level(sigmas_, step_index - 1);
  const NoiseLevel s2 = noise_level(sigmas_, step_index - 2);
  const at::Tensor& m0 = history.end()[-1];
  const at::Tensor& m1 = history.end()[-2];
  const at::Tensor& m2 = history.end()[-3];
  const at::Tensor h = t.lambda - s0.lambda;
  const at::Tensor r0 = (s0.lambda - s1.lambda) / h;
  const at::Tensor r1 = (s1.lambda - s2.lambda) / h;
  const at::Tensor d1_0 = (1.0 / r0) * (m0 - m1);
  const at::Tensor d1_1 = (1.0 / r1) * (m1 - m2);
  const at::Tensor d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1);
  const at::Tensor d2 = (1.0 / (r0 + r1)) * (d1_0 - d1_1);
  return (t.sigma / s0.sigma) * sample - (t.alpha * (at::exp(-h) - 1.0)) * m0 +
         (t.alpha * ((at::exp(-h) - 1.0) / h + 1.0)) * d1 -
         (t.alpha * ((at::exp(-h) - 1.0 + h) / at::pow(h, 2) - 0.5)) * d2;
}

}  // namespace xdit::schedulers
