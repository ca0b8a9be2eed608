#include "xdit/machine_info.hpp"

#include <unistd.h>

#include <fstream>

#include "core/build_info.hpp"
#include "core/device.hpp"
#include "core/gpu_info.hpp"
#include "core/nvml.hpp"
#include "core/threads.hpp"
#include "core/utc_time.hpp"

namespace xdit::app {

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos)
        return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

nlohmann::ordered_json machine_json() {
  nlohmann::ordered_json j;
  j["date"] = utc_now();
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  j["host"] = host;
  j["cpu"] = cpu_model();
  j["cores_available"] = available_cores();
  const int gpus = cuda_device_count();
  if (gpus > 0) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (int i = 0; i < gpus; ++i)
      list.push_back({{"name", gpu_name(i)}, {"memory_bytes", gpu_total_bytes(i)}});
    j["gpus"] = list;
    j["gpu_driver"] = nvml_driver_version();
  }
  // What joins the ranks: the loopback of one machine here; between GPUs the
  // driver's topology (nvidia-smi topo -m) says, which xdit does not read.
  j["interconnect"] = gpus > 0 ? "unknown (see nvidia-smi topo -m)" : "loopback (one machine)";
  j["xdit"] = xdit_version();
  j["git_revision"] = git_revision();
  j["torch"] = torch_version();
  if (!cuda_version().empty()) {
    j["cuda"] = cuda_version();
    j["nccl"] = nccl_version();
  }
  return j;
}

}  // namespace xdit::app
