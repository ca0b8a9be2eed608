#pragma once
// What `xdit plan --calibrate` measured on this machine, kept so that later
// plans and sweeps predict with it: the rate one rank sustains on a real
// transformer step (not a bare GEMM's: attention, norms and the small
// layers run slower), the link between two ranks (α, β), and the memory a
// rank process holds before any model (the runtime itself).

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "plan/link_model.hpp"
#include "plan/planner.hpp"

namespace xdit::plan {

struct Calibration {
  double flops_per_second = 0;  // one rank, its threads, on the measured model's step
  LinkModel link;               // name "measured"
  double base_memory_bytes = 0;
  // What a rank's core moves per second when it sends (see PlanRequest):
  // the measured link's bandwidth on CPU ranks, whose cores copy the bytes.
  double host_copy_bandwidth = 0;
  std::string device;    // "AMD EPYC 9B45, 1 thread" or "NVIDIA H200"
  std::string model;     // the model whose step gave the rate
  std::string measured;  // UTC date and time
};

// The machine's figures into a plan: its rate, base memory and the cost of
// sending to a rank's core (the link is the caller's
// choice: measured, a preset or given).
void use_calibration(const Calibration& calibration, PlanRequest& request);

// The link an --interconnect names: a preset, or "measured", the
// calibration's (UsageError naming `calibration_file` where there is none).
LinkModel named_link(const std::string& interconnect, const std::optional<Calibration>& calibration,
                     const std::filesystem::path& calibration_file);

// This machine's figures for a plan: the calibration's where there is one
// (use_calibration), else the one-thread GEMM rate of bench/gemm_probe.hpp.
// Returns where they came from, for people.
std::string use_this_machine(const std::optional<Calibration>& calibration, PlanRequest& request);

nlohmann::ordered_json to_json(const Calibration& calibration);
// ConfigError naming `source` and the key.
Calibration calibration_from_json(const nlohmann::json& json, const std::string& source);

// $XDG_CACHE_HOME/xdit/calibration.json (~/.cache/xdit/...).
std::filesystem::path default_calibration_path();

// The calibration at `path`, or none where there is no such file;
// FileError for a file that is not JSON, ConfigError naming the key for
// JSON that is not a calibration.
std::optional<Calibration> read_calibration(const std::filesystem::path& path);
void write_calibration(const std::filesystem::path& path, const Calibration& calibration);

}  // namespace xdit::plan
