#include "schedulers/noise_schedule.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace xdit::schedulers {
namespace {

// The Glide cosine schedule: betas that discretise alpha_bar(t) = cos²((t + s)/(1 + s)·π/2),
// in Python floats (double) and capped at 0.999 as diffusers' betas_for_alpha_bar does.
at::Tensor cosine_betas(int64_t count) {
  constexpr double kMaxBeta = 0.999;
  const auto alpha_bar = [](double t) {
    const double c = std::cos((t + 0.008) / 1.008 * M_PI / 2);
    return c * c;
  };
  std::vector<double> betas(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const double t1 = static_cast<double>(i) / static_cast<double>(count);
    const double t2 = static_cast<double>(i + 1) / static_cast<double>(count);
    betas[static_cast<size_t>(i)] = std::min(1 - alpha_bar(t2) / alpha_bar(t1), kMaxBeta);
  }
  return at::tensor(betas, at::kDouble).to(at::kFloat);
}

at::Tensor betas_from_config(const SchedulerConfig& config, int64_t count) {
  if (const auto trained = config.get_optional<std::vector<double>>("trained_betas")) {
    if (static_cast<int64_t>(trained->size()) != count) {
      config.fail("trained_betas", "has " + std::to_string(trained->size()) +
                                       " entries but num_train_timesteps is " +
                                       std::to_string(count));
    }
    return at::tensor(*trained, at::kDouble).to(at::kFloat);
  }
  const double beta_start = config.get_or<double>("beta_start", 0.0001);
  const double beta_end = config.get_or<double>("beta_end", 0.02);
  const std::string schedule = config.get_choice("beta_schedule", "linear",
                                                 {"linear", "scaled_linear", "squaredcos_cap_v2"});
  if (schedule == "linear")
    return at::linspace(beta_start, beta_end, count, at::kFloat);
  if (schedule == "scaled_linear") {
    // Latent diffusion's schedule: linear in sqrt(beta).
    return at::pow(
        at::linspace(std::pow(beta_start, 0.5), std::pow(beta_end, 0.5), count, at::kFloat), 2);
  }
  return cosine_betas(count);
}

// Lin et al. 2023 ("Common Diffusion Noise Schedules and Sample Steps are
// Flawed", algorithm 1): shift and scale sqrt(alphas_cumprod) so the last step
// is pure noise while the first keeps its value.
at::Tensor rescale_zero_terminal_snr(const at::Tensor& betas) {
  at::Tensor alphas_bar_sqrt = at::cumprod(1.0 - betas, 0).sqrt();
  const at::Tensor first = alphas_bar_sqrt[0].clone();
  const at::Tensor last = alphas_bar_sqrt[-1].clone();
  alphas_bar_sqrt -= last;
  alphas_bar_sqrt *= first / (first - last);
  const at::Tensor alphas_bar = at::pow(alphas_bar_sqrt, 2);
  const at::Tensor alphas =
      at::cat({alphas_bar.slice(0, 0, 1), alphas_bar.slice(0, 1) / alphas_bar.slice(0, 0, -1)});
  return 1.0 - alphas;
}

}  // namespace

at::Tensor make_alphas_cumprod(const SchedulerConfig& config, ZeroSnrTerminal terminal) {
  const auto count = config.get_or<int64_t>("num_train_timesteps", 1000);
  if (count < 2)
    config.fail("num_train_timesteps", "must be at least 2");
  at::Tensor betas = betas_from_config(config, count);
  const bool zero_snr = config.get_or<bool>("rescale_betas_zero_snr", false);
  if (zero_snr)
    betas = rescale_zero_terminal_snr(betas);
  at::Tensor alphas_cumprod = at::cumprod(1.0 - betas, 0);
  if (zero_snr && terminal == ZeroSnrTerminal::kSmallestHalf) {
    alphas_cumprod[-1].fill_(std::ldexp(1.0, -24));
  }
  return alphas_cumprod;
}

at::Tensor vp_sigmas(const at::Tensor& alphas_cumprod) {
  return at::pow((1 - alphas_cumprod) / alphas_cumprod, 0.5);
}

PredictionType read_prediction_type(const SchedulerConfig& config) {
  const std::string type =
      config.get_choice("prediction_type", "epsilon", {"epsilon", "sample", "v_prediction"});
  if (type == "epsilon")
    return PredictionType::kEpsilon;
  return type == "sample" ? PredictionType::kSample : PredictionType::kVPrediction;
}

}  // namespace xdit::schedulers
