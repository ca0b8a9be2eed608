#pragma once
// Where a worker sits in its group, read from the environment the way the
// common launchers describe it, so that the same xdit-worker runs under each
// with no other change:
//
//   xdit launcher   RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
//                   XDIT_STORE_FILE (the group meets through the launcher's
//                   file store, in place of MASTER_ADDR and MASTER_PORT),
//                   XDIT_CONTROL_FD, XDIT_CPU_CORE, XDIT_COMPUTE_THREADS
//   torchrun        RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
//                   MASTER_ADDR, MASTER_PORT; with
//                   TORCHELASTIC_USE_AGENT_STORE=True the store is the agent's
//                   and rank 0 only connects to it
//   Slurm (srun)    SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID,
//                   SLURM_TASKS_PER_NODE; MASTER_ADDR and MASTER_PORT set by
//                   the job script; rank 0 serves the store
//   nothing         a group of one
//
// RANK and friends win over Slurm's, so torchrun inside a Slurm job works.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "parallel/communicator.hpp"

namespace xdit::workers {

struct RankEnvironment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  bool agent_store = false;  // another process serves the TCPStore
  // torchrun's agent store: "/worker/attempt_<TORCHELASTIC_RESTART_COUNT>",
  // as torch.distributed uses it, so a restarted group starts afresh.
  std::string store_prefix;
  // XDIT_STORE_FILE: a group on this machine, meeting through this file; no
  // MASTER_ADDR or MASTER_PORT then (see parallel::Rendezvous::store_file).
  std::string store_file;
  std::string launcher;  // "xdit", "torchrun", "slurm" or "none", for messages
  std::optional<int> control_fd;
  std::optional<int> cpu_core;  // pin to this core (the xdit launcher's choice)
  // Compute threads: XDIT_COMPUTE_THREADS, else OMP_NUM_THREADS (torchrun
  // sets 1), else the cores this process may use shared by the local ranks.
  int compute_threads = 1;

  parallel::Rendezvous rendezvous(std::chrono::milliseconds timeout) const;
};

// Looks a variable up; std::getenv in production, a map in tests.
using EnvironmentLookup = std::function<const char*(const char*)>;

// Throws UsageError naming the variable that is missing or not a number, or
// a rank outside the world.
RankEnvironment read_rank_environment(const EnvironmentLookup& lookup);
RankEnvironment read_rank_environment();

}  // namespace xdit::workers
