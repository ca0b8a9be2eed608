#pragma once
// Whether the form's settings can run, checked as the launcher will check
// them (parallel::validate with the model's facts) so that the Studio
// explains an impossible combination before any process starts. Reads the
// model's configs: call it off the GUI thread.

#include <cstdint>
#include <string>
#include <vector>

#include "pipelines/generation.hpp"
#include "ui/model_info.hpp"
#include "workers/group_spec.hpp"

namespace xdit::ui {

struct GpuDescription {
  int index = 0;     // cuda:<index>, as CUDA_VISIBLE_DEVICES numbers it
  std::string name;  // "NVIDIA H200"
  int64_t total_bytes = 0;
  std::string describe() const;  // "cuda:0 NVIDIA H200, 140 GB"
};

// The compute devices a local group can use.
struct Devices {
  std::vector<GpuDescription> gpus;
  int cpu_cores = 1;
  std::string describe() const;  // "2 CPU cores" / "4 GPUs"
};
Devices detect_devices();

struct SettingsCheck {
  std::string error;    // why it cannot run and what to change; empty: it can
  std::string warning;  // it can, but not well (more workers than devices)
  bool ok() const { return error.empty(); }
};

// `spec.world_size` must be the product of the degrees. Ranks on GPUs (the
// spec's device allows them and some are chosen) count the chosen GPUs, and
// more ranks than those need --comm gloo.
SettingsCheck check_settings(const ModelInfo& model, const workers::GroupSpec& spec,
                             const pipelines::GenerationRequest& request, const Devices& devices);

}  // namespace xdit::ui
