#pragma once
// Figures read off one row of a sweep's results (workers/sweep_runner.hpp),
// for the report's tables, charts and CSV alike.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace xdit::report {

// The number at `path` ({"step_seconds", "median"}); NaN where the row has
// none there (a row that did not run, a row without a prediction).
double row_number(const nlohmann::ordered_json& row, const std::vector<std::string>& path);

enum class OverRanks { kLargest, kMean };

// One figure of the row's ranks ("peak_memory_bytes"), the largest or the
// mean; NaN for a row without ranks.
double over_ranks(const nlohmann::ordered_json& row, const char* key, OverRanks how);

}  // namespace xdit::report
