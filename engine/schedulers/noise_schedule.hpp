#pragma once
// The discrete variance-preserving noise schedule shared by the DDPM family
// (DDIM, DPM-Solver, Euler): betas → alphas_cumprod, in float32 with the same
// torch operations diffusers uses, so every later step starts from identical
// numbers.

#include <ATen/core/Tensor.h>

#include "schedulers/scheduler_config.hpp"

namespace xdit::schedulers {

// What becomes of alphas_cumprod[-1] when the betas are rescaled to zero
// terminal SNR. DPM-Solver and Euler divide by it, so diffusers nudges it to
// the smallest fp16 subnormal; DDIM keeps the exact zero.
enum class ZeroSnrTerminal { kExactZero, kSmallestHalf };

// Reads num_train_timesteps, beta_start, beta_end, beta_schedule
// (linear | scaled_linear | squaredcos_cap_v2), trained_betas and
// rescale_betas_zero_snr with diffusers' defaults (1000, 1e-4, 0.02, linear).
// Returns alphas_cumprod, float32 [num_train_timesteps].
at::Tensor make_alphas_cumprod(const SchedulerConfig& config, ZeroSnrTerminal terminal);

// sigma = sqrt((1 - alphas_cumprod) / alphas_cumprod), float32 like diffusers.
at::Tensor vp_sigmas(const at::Tensor& alphas_cumprod);

// What the model predicts: the noise, the clean sample, or v = alpha·eps - sigma·x0.
enum class PredictionType { kEpsilon, kSample, kVPrediction };
PredictionType read_prediction_type(const SchedulerConfig& config);

}  // namespace xdit::schedulers
