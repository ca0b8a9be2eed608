#include "workers/rank_environment.hpp"

#include <cstdlib>
#include <string_view>

#include "core/error.hpp"
#include "core/threads.hpp"

namespace xdit::workers {
namespace {

class Reader {
 public:
  explicit Reader(const EnvironmentLookup& lookup) : lookup_(lookup) {}

  const char* raw(const char* name) const {
    const char* value = lookup_(name);
    return value && *value ? value : nullptr;
  }

  std::optional<int> number(const char* name) const {
    const char* value = raw(name);
    if (!value)
      return std::nullopt;
    char* end = nullptr;
    const long parsed = std::strtol(value, &end, 10);
    if (*end != '\0' || parsed < 0 || parsed > 1'000'000) {
      throw UsageError(std::string("environment variable ") + name + "='" + value +
                       "' is not a non-negative integer");
    }
    return static_cast<int>(parsed);
  }

  int required_number(const char* name, const std::string& why) const {
    if (auto value = number(name))
      return *value;
    throw UsageError(std::string("environment variable ") + name + " is not set; " + why);
  }

  // Slurm's "2(x3),1": tasks on each node; the first entry is this job's
  // usual layout, which is all thread sharing needs.
  std::optional<int> leading_number(const char* name) const {
    const char* value = raw(name);
    if (!value)
      return std::nullopt;
    const int parsed = std::atoi(value);
    return parsed > 0 ? std::optional<int>(parsed) : std::nullopt;
  }

 private:
  const EnvironmentLookup& lookup_;
};

// Where the group meets: the launcher's file, else MASTER_ADDR:MASTER_PORT.
void read_master(const Reader& env, RankEnvironment& out) {
  if (const char* file = env.raw("XDIT_STORE_FILE")) {
    out.store_file = file;
    return;
  }
  if (out.world_size == 1)
    return;
  const std::string why = "a group of " + std::to_string(out.world_size) +
                          " processes meets at MASTER_ADDR:MASTER_PORT (the host of rank 0 and "
                          "a free TCP port, the same for every rank)";
  const char* addr = env.raw("MASTER_ADDR");
  if (!addr)
    throw UsageError("environment variable MASTER_ADDR is not set; " + why);
  out.master_addr = addr;
  out.master_port = env.required_number("MASTER_PORT", why);
}

}  // namespace

parallel::Rendezvous RankEnvironment::rendezvous(std::chrono::milliseconds timeout) const {
  parallel::Rendezvous r;
  r.master_addr = master_addr;
  r.master_port = master_port;
  r.world_size = world_size;
  r.rank = rank;
  r.timeout = timeout;
  r.rank0_serves_store = !agent_store;
  r.store_prefix = store_prefix;
  r.store_file = store_file;
  return r;
}

RankEnvironment read_rank_environment(const EnvironmentLookup& lookup) {
  const Reader env(lookup);
  RankEnvironment out;
  if (env.raw("RANK")) {
    const std::string why = "RANK needs the WORLD_SIZE it counts in";
    out.rank = *env.number("RANK");
    out.world_size = env.required_number("WORLD_SIZE", why);
    out.local_rank = env.number("LOCAL_RANK").value_or(out.rank);
    out.local_world_size = env.number("LOCAL_WORLD_SIZE").value_or(out.world_size);
    // torch.distributed checks for exactly this text.
    const char* agent = env.raw("TORCHELASTIC_USE_AGENT_STORE");
    out.agent_store = agent && std::string_view(agent) == "True";
    if (out.agent_store) {
      if (const auto restart = env.number("TORCHELASTIC_RESTART_COUNT")) {
        out.store_prefix = "/worker/attempt_" + std::to_string(*restart);
      }
    }
    out.control_fd = env.number("XDIT_CONTROL_FD");
    out.launcher = out.control_fd ? "xdit" : "torchrun";
  } else if (env.raw("SLURM_PROCID")) {
    out.rank = *env.number("SLURM_PROCID");
    out.world_size = env.required_number("SLURM_NTASKS", "SLURM_PROCID needs it");
    out.local_rank = env.number("SLURM_LOCALID").value_or(0);
    out.local_world_size = env.leading_number("SLURM_TASKS_PER_NODE").value_or(1);
    out.launcher = "slurm";
  } else {
    out.launcher = "none";
  }
  if (out.world_size < 1 || out.rank >= out.world_size) {
    throw UsageError("rank " + std::to_string(out.rank) + " does not exist in a group of " +
                     std::to_string(out.world_size) + " processes (as set by " + out.launcher +
                     ")");
  }
  if (out.local_world_size < 1)
    out.local_world_size = 1;
  read_master(env, out);
  out.cpu_core = env.number("XDIT_CPU_CORE");
  if (auto threads = env.number("XDIT_COMPUTE_THREADS")) {
    out.compute_threads = *threads;
  } else if (auto omp = env.number("OMP_NUM_THREADS")) {
    out.compute_threads = *omp;
  } else {
    out.compute_threads = available_cores() / out.local_world_size;
  }
  out.compute_threads = std::max(out.compute_threads, 1);
  return out;
}

RankEnvironment read_rank_environment() {
  return read_rank_environment([](const char* name) { return std::getenv(name); });
}

}  // namespace xdit::workers
