#include "plan/calibration.hpp"

#include <cstdlib>

#include "bench/gemm_probe.hpp"
#include "core/error.hpp"
#include "io/config.hpp"

namespace xdit::plan {

void use_calibration(const Calibration& c, PlanRequest& request) {
  request.flops_per_second = c.flops_per_second;
  request.base_memory_bytes = c.base_memory_bytes;
  request.host_copy_bandwidth = c.host_copy_bandwidth;
}

LinkModel named_link(const std::string& interconnect, const std::optional<Calibration>& calibration,
                     const std::filesystem::path& calibration_file) {
  if (interconnect != "measured")
    return link_preset(interconnect);
  if (!calibration) {
    throw UsageError("--interconnect measured: no calibration at " + calibration_file.string() +
                     " (run xdit plan --calibrate)");
  }
  return calibration->link;
}

std::string use_this_machine(const std::optional<Calibration>& calibration, PlanRequest& request) {
  if (calibration) {
    use_calibration(*calibration, request);
    return "calibrated on " + calibration->model + ", " + calibration->measured;
  }
  bench::GemmProbe probe;
  for (int i = 0; i < 3; ++i)
    probe.run();
  request.flops_per_second = probe.rate();
  return "this machine's GEMM, one thread; xdit plan --calibrate measures a real step";
}

nlohmann::ordered_json to_json(const Calibration& c) {
  return {{"format", "xdit-calibration/1"},
          {"flops_per_second", c.flops_per_second},
          {"bandwidth_bytes_per_second", c.link.bandwidth},
          {"latency_seconds", c.link.latency},
          {"collective_slowdown",
           {{"all_to_all", c.link.slowdown[static_cast<size_t>(Collective::kAllToAll)]},
            {"all_reduce", c.link.slowdown[static_cast<size_t>(Collective::kAllReduce)]},
            {"all_gather", c.link.slowdown[static_cast<size_t>(Collective::kAllGather)]}}},
          {"base_memory_bytes", c.base_memory_bytes},
          {"host_copy_bandwidth_bytes_per_second", c.host_copy_bandwidth},
          {"device", c.device},
          {"model", c.model},
          {"measured", c.measured}};
}

Calibration calibration_from_json(const nlohmann::json& json, const std::string& source) {
  const auto number = [&](const char* key) {
    if (!json.contains(key) || !json.at(key).is_number())
      throw ConfigError(source, key, "missing or not a number");
    return json.at(key).get<double>();
  };
  Calibration c;
  c.flops_per_second = number("flops_per_second");
  c.link = link_of(number("bandwidth_bytes_per_second"), number("latency_seconds"));
  c.link.name = "measured";
  if (json.contains("collective_slowdown")) {
    const nlohmann::json& slowdown = json.at("collective_slowdown");
    for (const auto& [key, kind] : {std::pair{"all_to_all", Collective::kAllToAll},
                                    std::pair{"all_reduce", Collective::kAllReduce},
                                    std::pair{"all_gather", Collective::kAllGather}}) {
      const double value = slowdown.value(key, 1.0);
      if (!(value > 0))
        throw ConfigError(source, std::string("collective_slowdown.") + key, "must be positive");
      c.link.slowdown.at(static_cast<size_t>(kind)) = value;
    }
  }
  c.base_memory_bytes = number("base_memory_bytes");
  c.host_copy_bandwidth = json.value("host_copy_bandwidth_bytes_per_second", 0.0);
  if (!(c.flops_per_second > 0))
    throw ConfigError(source, "flops_per_second", "must be positive");
  c.device = json.value("device", "");
  c.model = json.value("model", "");
  c.measured = json.value("measured", "");
  return c;
}

std::filesystem::path default_calibration_path() {
  const char* cache = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::filesystem::path root = cache && *cache ? std::filesystem::path(cache)
                                     : home && *home ? std::filesystem::path(home) / ".cache"
                                                     : std::filesystem::temp_directory_path();
  return root / "xdit" / "calibration.json";
}

std::optional<Calibration> read_calibration(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    return std::nullopt;
  return calibration_from_json(io::read_json_file(path), path.string());
}

void write_calibration(const std::filesystem::path& path, const Calibration& calibration) {
  std::filesystem::create_directories(path.parent_path());
  io::write_json_file(path, to_json(calibration));
}

}  // namespace xdit::plan
