#include "ui/settings_check.hpp"

#include <cstdio>
#include <exception>

#include "core/device.hpp"
#include "core/gpu_info.hpp"
#include "core/threads.hpp"
#include "io/model_folder.hpp"
#include "parallel/parallel_config.hpp"
#include "pipelines/dit_pipeline.hpp"

namespace xdit::ui {

std::string GpuDescription::describe() const {
  char size[32];
  std::snprintf(size, sizeof(size), "%.0f GB", static_cast<double>(total_bytes) / 1e9);
  return "cuda:" + std::to_string(index) + " " + name + ", " + size;
}

std::string Devices::describe() const {
  const size_t n = gpus.size();
  if (n > 0)
    return std::to_string(n) + (n == 1 ? " GPU" : " GPUs");
  return std::to_string(cpu_cores) + (cpu_cores == 1 ? " CPU core" : " CPU cores");
}

Devices detect_devices() {
  Devices devices;
  devices.cpu_cores = available_cores();
  for (int i = 0; i < cuda_device_count(); ++i)
    devices.gpus.push_back({i, gpu_name(i), gpu_total_bytes(i)});
  return devices;
}

SettingsCheck check_settings(const ModelInfo& model, const workers::GroupSpec& spec,
                             const pipelines::GenerationRequest& request, const Devices& devices) {
  SettingsCheck check;
  if (!model.usable()) {
    check.error = "The model cannot be used: " + model.problems.front();
    return check;
  }
  try {
    const io::ModelFolder folder(model.folder, spec.variant);
    parallel::validate(spec.parallel, spec.world_size, pipelines::model_facts(folder, request));
  } catch (const std::exception& e) {
    check.error = e.what();
    return check;
  }
  int gpus = static_cast<int>(devices.gpus.size());
  try {
    if (!spec.gpus.empty())
      gpus = static_cast<int>(parse_gpu_list(spec.gpus).size());
    if (spec.device == "cpu")
      gpus = 0;
    if (gpus > 0)
      resolve_comm(spec.comm, at::kCUDA);
  } catch (const std::exception& e) {
    check.error = e.what();
    return check;
  }
  const std::string place =
      gpus > 0 ? std::to_string(gpus) + (gpus == 1 ? " GPU" : " GPUs") : devices.describe();
  if (gpus > 0 && spec.world_size > gpus && spec.comm != "gloo") {
    check.error = "The " + std::to_string(spec.world_size) + " workers need a GPU each for NCCL, " +
                  "but " + place + (gpus == 1 ? " is" : " are") +
                  " chosen: choose more, or let them share through Gloo (--comm gloo)";
    return check;
  }
  const int slots = gpus > 0 ? gpus : devices.cpu_cores;
  if (spec.world_size > slots) {
    check.warning = "The " + std::to_string(spec.world_size) + " workers share " + place +
                    ": it runs, but slower than a mesh of at most " + std::to_string(slots) +
                    " workers";
  }
  return check;
}

}  // namespace xdit::ui
