#pragma once
// The machine and software a measurement ran on, as benchmark files and
// reports name them: CPU model and cores, each visible GPU with its memory
// and the driver, and the versions of xdit (with its git revision),
// LibTorch, CUDA and NCCL.

#include <nlohmann/json.hpp>
#include <string>

namespace xdit::app {

// "AMD EPYC 9B45" from /proc/cpuinfo; "unknown" elsewhere.
std::string cpu_model();

// {"date", "host", "cpu", "cores_available", "gpus": [{"name", "memory_bytes"}],
//  "gpu_driver", "interconnect", "xdit", "git_revision", "torch", "cuda", "nccl"}
// (the GPU entries only where there are GPUs).
nlohmann::ordered_json machine_json();

}  // namespace xdit::app
