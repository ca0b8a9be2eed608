#include "plan/link_model.hpp"

#include <array>

#include "core/error.hpp"

namespace xdit::plan {
namespace {

struct Preset {
  const char* name;
  double gigabytes_per_second;
  double microseconds;
};

constexpr std::array<Preset, 3> kPresets = {{
    {"nvlink", 200.0, 5.0},
    {"pcie", 20.0, 10.0},
    {"ethernet", 1.1, 50.0},
}};

}  // namespace

double LinkModel::seconds(double bytes, double messages, Collective kind) const {
  return messages * latency + bytes / bandwidth * slowdown.at(static_cast<size_t>(kind));
}

std::vector<std::string> link_preset_names() {
  std::vector<std::string> names;
  for (const Preset& preset : kPresets)
    names.emplace_back(preset.name);
  return names;
}

LinkModel link_preset(const std::string& name) {
  for (const Preset& preset : kPresets) {
    if (name == preset.name)
      return {preset.name, preset.gigabytes_per_second * 1e9, preset.microseconds * 1e-6};
  }
  std::string known;
  for (const auto& n : link_preset_names())
    known += (known.empty() ? "" : ", ") + n;
  throw UsageError("--interconnect '" + name + "' is not one of " + known +
                   " (or give --bandwidth and --latency)");
}

LinkModel link_of(double bandwidth_bytes_per_second, double latency_seconds) {
  if (!(bandwidth_bytes_per_second > 0) || !(latency_seconds >= 0)) {
    throw UsageError("--bandwidth must be positive and --latency not negative");
  }
  return {"given", bandwidth_bytes_per_second, latency_seconds};
}

}  // namespace xdit::plan
