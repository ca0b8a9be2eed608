#pragma once
// What a benchmark case measured, as named figures with units: printed as a
// table for people and written as JSON for the reports and the Studio.
// Keys are stable snake_case names; labels are for reading.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xdit::bench {

struct Figure {
  std::string key;    // "seconds_per_step"
  std::string label;  // "time per step (best)"
  double value = 0;
  std::string unit;  // "s", "GFLOP/s", "MiB", "" for a plain ratio
};

struct Record {
  std::string name;   // the case: "gemm", "attention_4096", ...
  std::string title;  // what was run, in one line
  std::vector<Figure> figures;

  Record& add(std::string key, std::string label, double value, std::string unit = "");
  std::optional<double> find(std::string_view key) const;
};

// {"name", "title", "figures": {key: {"value", "unit", "label"}}}, in order.
nlohmann::ordered_json to_json(const Record& record);

// The figures of one record as aligned "label  value unit" lines.
std::string format_record(const Record& record);

}  // namespace xdit::bench
