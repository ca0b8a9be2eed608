#pragma once
// How the launcher starts one worker: which executable, which environment
// (torchrun's rank variables, the launcher's rendezvous file in place of
// MASTER_ADDR/MASTER_PORT, the xdit control variables), which core.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "workers/child_process.hpp"

namespace xdit::workers {

// The number the control channel has in a worker (XDIT_CONTROL_FD).
inline constexpr int kWorkerControlFd = 3;

struct WorkerSlot {
  int rank = 0;
  int world_size = 1;
  // The group's rendezvous file (XDIT_STORE_FILE); empty for a group of one.
  std::filesystem::path store_file;
  std::optional<int> cpu_core;
  int threads = 1;
  std::string visible_gpus;  // CUDA_VISIBLE_DEVICES; empty: this process's
  int control_fd = -1;       // the worker's end of its channel, in this process
  std::optional<std::filesystem::path> log;
  std::optional<pid_t> process_group;
};

// `requested` if given, else $XDIT_WORKER, else xdit-worker beside this
// process's executable. Throws WorkerError saying where it looked.
std::filesystem::path find_worker_executable(const std::filesystem::path& requested);

// The cores this process may run on, in order.
std::vector<int> usable_cores();

ChildProcess spawn_worker(const std::filesystem::path& executable, const WorkerSlot& slot);

}  // namespace xdit::workers
