#include "bench/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace xdit::bench {

double quantile(std::vector<double> values, double q) {
  if (values.empty())
    return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const auto below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, values.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return values[below] + fraction * (values[above] - values[below]);
}

double median(std::vector<double> values) {
  return quantile(std::move(values), 0.5);
}

Spread spread_of(std::vector<double> values) {
  Spread s;
  s.count = values.size();
  s.median = quantile(values, 0.5);
  s.p90 = quantile(values, 0.9);
  s.min = quantile(values, 0);
  s.max = quantile(values, 1);
  return s;
}

nlohmann::ordered_json to_json(const Spread& spread) {
  return {{"median", spread.median},
          {"min", spread.min},
          {"max", spread.max},
          {"p90", spread.p90},
          {"count", spread.count}};
}

Spread spread_from_json(const nlohmann::json& json) {
  Spread s;
  s.median = json.value("median", 0.0);
  s.min = json.value("min", 0.0);
  s.max = json.value("max", 0.0);
  s.p90 = json.value("p90", 0.0);
  s.count = json.value("count", size_t{0});
  return s;
}

}  // namespace xdit::bench
