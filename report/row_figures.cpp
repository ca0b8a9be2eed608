#include "report/row_figures.hpp"

#include <algorithm>
#include <limits>

namespace xdit::report {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

double row_number(const nlohmann::ordered_json& row, const std::vector<std::string>& path) {
  const nlohmann::ordered_json* at = &row;
  for (const std::string& key : path) {
    if (!at->is_object() || !at->contains(key))
      return kNaN;
    at = &(*at)[key];
  }
  return at->is_number() ? at->get<double>() : kNaN;
}

double over_ranks(const nlohmann::ordered_json& row, const char* key, OverRanks how) {
  if (!row.contains("ranks") || row["ranks"].empty())
    return kNaN;
  double sum = 0, largest = -std::numeric_limits<double>::infinity();
  for (const auto& rank : row["ranks"]) {
    const double value = rank.value(key, kNaN);
    sum += value;
    largest = std::max(largest, value);
  }
  return how == OverRanks::kMean ? sum / static_cast<double>(row["ranks"].size()) : largest;
}

}  // namespace xdit::report
