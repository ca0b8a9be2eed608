#include "schedulers/timestep_spacing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace xdit::schedulers {

std::vector<double> numpy_linspace(double start, double stop, int64_t count) {
  std::vector<double> values(static_cast<size_t>(std::max<int64_t>(count, 0)));
  if (values.empty())
    return values;
  const int64_t divisions = count - 1;
  const double delta = stop - start;
  const double step = divisions > 0 ? delta / static_cast<double>(divisions)
                                    : std::numeric_limits<double>::quiet_NaN();
  for (int64_t i = 0; i < count; ++i) {
    const double index = static_cast<double>(i);
    // numpy falls back to (i / div) * delta when the step underflows to zero.
    const double offset = divisions == 0 ? index * delta
                          : step == 0    ? index / static_cast<double>(divisions) * delta
                                         : index * step;
    values[static_cast<size_t>(i)] = offset + start;
  }
  if (count > 1)
    values.back() = stop;
  return values;
}

std::vector<double> numpy_arange(double start, double stop, double step) {
  const double length = std::ceil((stop - start) / step);
  if (!(length > 0))
    return {};
  std::vector<double> values(static_cast<size_t>(length));
  values[0] = start;
  if (values.size() == 1)
    return values;
  // numpy places start and start + step, then fills from their difference.
  values[1] = start + step;
  const double delta = values[1] - values[0];
  for (size_t i = 2; i < values.size(); ++i)
    values[i] = start + static_cast<double>(i) * delta;
  return values;
}

double numpy_round(double value) {
  return std::nearbyint(value);
}

std::vector<double> interp_on_index_grid(const std::vector<double>& x,
                                         const std::vector<double>& values) {
  const auto last = static_cast<int64_t>(values.size()) - 1;
  std::vector<double> result;
  result.reserve(x.size());
  for (const double position : x) {
    if (!(position >= 0)) {
      result.push_back(std::isnan(position) ? position : values.front());
      continue;
    }
    if (position >= static_cast<double>(last)) {
      result.push_back(values.back());
      continue;
    }
    const auto j = static_cast<int64_t>(std::floor(position));
    const double below = values[static_cast<size_t>(j)];
    const double above = values[static_cast<size_t>(j + 1)];
    if (position == static_cast<double>(j)) {
      result.push_back(below);
      continue;
    }
    const double slope = above - below;  // the grid spacing is exactly 1
    double value = slope * (position - static_cast<double>(j)) + below;
    if (std::isnan(value))
      value = slope * (position - static_cast<double>(j + 1)) + above;
    if (std::isnan(value) && below == above)
      value = below;
    result.push_back(value);
  }
  return result;
}

TimestepSpacing read_timestep_spacing(const SchedulerConfig& config, const std::string& fallback) {
  const std::string spacing =
      config.get_choice("timestep_spacing", fallback, {"linspace", "leading", "trailing"});
  if (spacing == "linspace")
    return TimestepSpacing::kLinspace;
  return spacing == "leading" ? TimestepSpacing::kLeading : TimestepSpacing::kTrailing;
}

std::vector<double> spaced_timesteps(TimestepSpacing spacing, int64_t count, int64_t last_timestep,
                                     int64_t num_train_timesteps, int64_t steps_offset) {
  std::vector<double> timesteps;
  switch (spacing) {
    case TimestepSpacing::kLinspace:
      timesteps = numpy_linspace(0, static_cast<double>(last_timestep - 1), count);
      std::reverse(timesteps.begin(), timesteps.end());
      break;
    case TimestepSpacing::kLeading: {
      const int64_t ratio = last_timestep / count;
      for (int64_t i = count - 1; i >= 0; --i) {
        timesteps.push_back(static_cast<double>(i * ratio + steps_offset));
      }
      break;
    }
    case TimestepSpacing::kTrailing: {
      const double ratio = static_cast<double>(num_train_timesteps) / static_cast<double>(count);
      timesteps = numpy_arange(static_cast<double>(last_timestep), 0, -ratio);
      for (double& t : timesteps)
        t = numpy_round(t) - 1;
      break;
    }
  }
  return timesteps;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t count) {
  constexpr double kRho = 7.0;
  const double min_inv_rho = std::pow(sigma_min, 1 / kRho);
  const double max_inv_rho = std::pow(sigma_max, 1 / kRho);
  std::vector<double> sigmas = numpy_linspace(0, 1, count);
  for (double& ramp : sigmas) {
    ramp = std::pow(max_inv_rho + ramp * (min_inv_rho - max_inv_rho), kRho);
  }
  return sigmas;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  // numpy 1.x evaluates `float64 scalar - float32 array` in float32.
  const auto log_sigma = static_cast<float>(std::log(std::max(sigma, 1e-10)));
  const auto count = static_cast<int64_t>(log_sigmas.size());
  int64_t low = 0;
  for (int64_t i = 0; i < count; ++i) {
    if (log_sigma - log_sigmas[static_cast<size_t>(i)] >= 0)
      low = i;
  }
  low = std::min(low, count - 2);
  const float below = log_sigmas[static_cast<size_t>(low)];
  const float above = log_sigmas[static_cast<size_t>(low + 1)];
  const float weight = std::clamp((below - log_sigma) / (below - above), 0.0f, 1.0f);
  return static_cast<double>(1 - weight) * static_cast<double>(low) +
         static_cast<double>(weight) * static_cast<double>(low + 1);
}

}  // namespace xdit::schedulers
