#include "workers/worker_spawn.hpp"

#include <sched.h>

#include <cstdlib>
#include <string_view>

#include "workers/worker_error.hpp"

extern char** environ;

namespace xdit::workers {
namespace {

// Variables the launcher sets for each worker; inherited values (from a
// torchrun or Slurm job the launcher itself runs in) must not leak through.
constexpr std::string_view kOwnVariables[] = {"RANK",
                                              "WORLD_SIZE",
                                              "LOCAL_RANK",
                                              "LOCAL_WORLD_SIZE",
                                              "GROUP_RANK",
                                              "MASTER_ADDR",
                                              "MASTER_PORT",
                                              "TORCHELASTIC_USE_AGENT_STORE",
                                              "TORCHELASTIC_RESTART_COUNT",
                                              "OMP_NUM_THREADS",
                                              "OPENBLAS_NUM_THREADS",
                                              "NCCL_SOCKET_IFNAME",
                                              "XDIT_STORE_FILE",
                                              "XDIT_CONTROL_FD",
                                              "XDIT_CPU_CORE",
                                              "XDIT_COMPUTE_THREADS"};

bool is_own(std::string_view entry) {
  const auto name = entry.substr(0, entry.find('='));
  for (const auto own : kOwnVariables) {
    if (name == own)
      return true;
  }
  return false;
}

std::vector<std::string> worker_environment(const WorkerSlot& slot) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry; ++entry) {
    if (!is_own(*entry))
      env.emplace_back(*entry);
  }
  auto set = [&env](const char* name, const std::string& value) {
    env.push_back(std::string(name) + "=" + value);
  };
  set("RANK", std::to_string(slot.rank));
  set("WORLD_SIZE", std::to_string(slot.world_size));
  set("LOCAL_RANK", std::to_string(slot.rank));
  set("LOCAL_WORLD_SIZE", std::to_string(slot.world_size));
  // No MASTER_ADDR/MASTER_PORT: a local group meets through a file, so that
  // nothing of it listens beyond loopback (see parallel::Rendezvous).
  if (!slot.store_file.empty())
    set("XDIT_STORE_FILE", slot.store_file.string());
  // NCCL's bootstrap (CUDA builds) would otherwise listen on the first
  // network interface it finds; Gloo is kept on loopback by the store file.
  set("NCCL_SOCKET_IFNAME", "lo");
  set("XDIT_CONTROL_FD", std::to_string(kWorkerControlFd));
  set("XDIT_COMPUTE_THREADS", std::to_string(slot.threads));
  // Thread pools that start before the worker sets its threads size
  // themselves from these.
  set("OMP_NUM_THREADS", std::to_string(slot.threads));
  set("OPENBLAS_NUM_THREADS", std::to_string(slot.threads));
  if (slot.cpu_core)
    set("XDIT_CPU_CORE", std::to_string(*slot.cpu_core));
  if (!slot.visible_gpus.empty()) {
    std::erase_if(
        env, [](const std::string& entry) { return entry.rfind("CUDA_VISIBLE_DEVICES=", 0) == 0; });
    set("CUDA_VISIBLE_DEVICES", slot.visible_gpus);
  }
  return env;
}

}  // namespace

std::filesystem::path find_worker_executable(const std::filesystem::path& requested) {
  namespace fs = std::filesystem;
  fs::path path = requested;
  std::string where;
  if (path.empty()) {
    if (const char* env = std::getenv("XDIT_WORKER"); env && *env) {
      path = env;
      where = " (from $XDIT_WORKER)";
    } else {
      std::error_code error;
      const fs::path self = fs::read_symlink("/proc/self/exe", error);
      path = self.parent_path() / "xdit-worker";
      where = " (beside " + self.string() + "; set $XDIT_WORKER to use another)";
    }
  }
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    throw WorkerError(WorkerError::kNoRank,
                      "the worker executable " + path.string() + where + " does not exist");
  }
  return path;
}

std::vector<int> usable_cores() {
  std::vector<int> cores;
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set))
        cores.push_back(cpu);
    }
  }
  return cores;
}

ChildProcess spawn_worker(const std::filesystem::path& executable, const WorkerSlot& slot) {
  SpawnOptions options;
  options.argv = {executable.string()};
  options.env = worker_environment(slot);
  options.fds = {{slot.control_fd, kWorkerControlFd}};
  options.log = slot.log;
  options.process_group = slot.process_group;
  return ChildProcess::spawn(options);
}

}  // namespace xdit::workers
