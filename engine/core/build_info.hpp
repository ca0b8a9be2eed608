#pragma once
// What this binary is, for reports and bug reports: the project version, the
// git revision it was built from, and the versions of LibTorch and, in a
// CUDA build, of the CUDA runtime and NCCL it was compiled against.

#include <string>

namespace xdit {

std::string xdit_version();   // "0.1.0"
std::string git_revision();   // "9690ab5a1b2c" (+ "-dirty"), or "unknown"
std::string torch_version();  // "1.13.1"
std::string cuda_version();   // "13.0"; "" in a CPU build
std::string nccl_version();   // "2.27.7"; "" in a CPU build

}  // namespace xdit
