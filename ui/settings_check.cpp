#include "ui/settings_check.hpp"

#include <ATen/detail/CUDAHooksInterface.h>

#include <exception>

#include "core/threads.hpp"
#include "io/model_folder.hpp"
#include "parallel/parallel_config.hpp"
#include "pipelines/pixart_pipeline.hpp"

namespace xdit::ui {

std::string Devices::describe() const {
  if (gpus > 0)
    return std::to_string(gpus) + (gpus == 1 ? " GPU" : " GPUs");
  return std::to_string(cpu_cores) + (cpu_cores == 1 ? " CPU core" : " CPU cores");
}

Devices detect_devices() {
  Devices devices;
  devices.cpu_cores = available_cores();
  devices.gpus = at::detail::getCUDAHooks().getNumGPUs();
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
    parallel::validate(spec.parallel, spec.world_size,
                       pipelines::pixart_model_facts(folder, request));
  } catch (const std::exception& e) {
    check.error = e.what();
    return check;
  }
  const int slots = devices.gpus > 0 ? devices.gpus : devices.cpu_cores;
  if (spec.world_size > slots) {
    check.warning = "The " + std::to_string(spec.world_size) + " workers share " +
                    devices.describe() + ": it runs, but slower than a mesh of at most " +
                    std::to_string(slots) + " workers";
  }
  return check;
}

}  // namespace xdit::ui
