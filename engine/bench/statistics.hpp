#pragma once
// The spread of repeated timings, as sweeps report them: median, min, max
// and the 90th percentile (linear between the two nearest ranks, as
// numpy's default), so that one slow step shows without moving the median.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <vector>

namespace xdit::bench {

struct Spread {
  double median = 0;
  double min = 0;
  double max = 0;
  double p90 = 0;
  size_t count = 0;
};

// NaN figures (and count 0) for no values.
Spread spread_of(std::vector<double> values);

// The q-th quantile (0..1) of `values`, linear between the nearest ranks;
// NaN for no values.
double quantile(std::vector<double> values, double q);

double median(std::vector<double> values);

// {"median", "min", "max", "p90", "count"}
nlohmann::ordered_json to_json(const Spread& spread);
Spread spread_from_json(const nlohmann::json& json);

}  // namespace xdit::bench
