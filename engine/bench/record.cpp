#include "bench/record.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace xdit::bench {
namespace {

// Four significant digits, without exponent for the magnitudes benchmarks
// produce.
std::string format_value(double value) {
  if (!std::isfinite(value))
    return "n/a";
  const double magnitude = std::fabs(value);
  const int decimals = magnitude >= 1000 ? 0 : magnitude >= 100 ? 1 : magnitude >= 10 ? 2 : 3;
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

}  // namespace

Record& Record::add(std::string key, std::string label, double value, std::string unit) {
  figures.push_back({std::move(key), std::move(label), value, std::move(unit)});
  return *this;
}

std::optional<double> Record::find(std::string_view key) const {
  for (const Figure& figure : figures) {
    if (figure.key == key)
      return figure.value;
  }
  return std::nullopt;
}

nlohmann::ordered_json to_json(const Record& record) {
  nlohmann::ordered_json figures = nlohmann::ordered_json::object();
  for (const Figure& figure : record.figures) {
    nlohmann::ordered_json entry;
    // JSON has no NaN: a figure that could not be measured is null.
    entry["value"] = std::isfinite(figure.value) ? nlohmann::ordered_json(figure.value)
                                                 : nlohmann::ordered_json(nullptr);
    entry["unit"] = figure.unit;
    entry["label"] = figure.label;
    figures[figure.key] = std::move(entry);
  }
  nlohmann::ordered_json json;
  json["name"] = record.name;
  json["title"] = record.title;
  json["figures"] = std::move(figures);
  return json;
}

std::string format_record(const Record& record) {
  size_t label_width = 0;
  size_t value_width = 0;
  for (const Figure& figure : record.figures) {
    label_width = std::max(label_width, figure.label.size());
    value_width = std::max(value_width, format_value(figure.value).size());
  }
  std::string text = record.name + ": " + record.title + "\n";
  for (const Figure& figure : record.figures) {
    const std::string value = format_value(figure.value);
    text += "  " + figure.label + std::string(label_width - figure.label.size() + 2, ' ') +
            std::string(value_width - value.size(), ' ') + value +
            (figure.unit.empty() ? "" : " " + figure.unit) + "\n";
  }
  return text;
}

}  // namespace xdit::bench
