#pragma once
// Schedule arithmetic in float64, written after numpy's own formulas. diffusers
// builds timesteps and sigmas with numpy; an integer timestep comes from
// rounding values like 499.49999999999994, so only the same sequence of double
// operations gives the same timesteps.

#include <cstdint>
#include <string>
#include <vector>

#include "schedulers/scheduler_config.hpp"

namespace xdit::schedulers {

// np.linspace(start, stop, count) (endpoint included).
std::vector<double> numpy_linspace(double start, double stop, int64_t count);
// np.arange(start, stop, step) for floating-point arguments.
std::vector<double> numpy_arange(double start, double stop, double step);
// np.round: half to even.
double numpy_round(double value);
// np.interp(x, np.arange(len(values)), values).
std::vector<double> interp_on_index_grid(const std::vector<double>& x,
                                         const std::vector<double>& values);

// `timestep_spacing`, Table 2 of Lin et al. 2023 (arXiv 2305.08891).
enum class TimestepSpacing { kLinspace, kLeading, kTrailing };
TimestepSpacing read_timestep_spacing(const SchedulerConfig& config, const std::string& fallback);

// Descending timesteps as diffusers spaces them over [0, last_timestep):
// linspace is left unrounded (each scheduler rounds or casts it its own way),
// leading gets `steps_offset`, trailing is rounded and shifted down by one.
// `last_timestep` is num_train_timesteps unless a scheduler clips the schedule.
std::vector<double> spaced_timesteps(TimestepSpacing spacing, int64_t count, int64_t last_timestep,
                                     int64_t num_train_timesteps, int64_t steps_offset);

// The noise levels of Karras et al. 2022 (rho = 7), from sigma_max down to sigma_min.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t count);

// The fractional training timestep of a noise level: linear interpolation of
// log sigma over `log_sigmas` (float32, ascending with the timestep), clamped to
// the training range, with numpy 1.x's float32 arithmetic for the weights.
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);

}  // namespace xdit::schedulers
