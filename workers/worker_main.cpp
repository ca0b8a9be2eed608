#include "workers/worker_main.hpp"

#include <sched.h>
#include <spdlog/cfg/env.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "core/error.hpp"
#include "core/threads.hpp"
#include "workers/launched_worker.hpp"
#include "workers/rank_environment.hpp"
#include "workers/standalone_worker.hpp"

namespace xdit::workers {
namespace {

void pin_to_core(int core) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core, &set);
  if (::sched_setaffinity(0, sizeof(set), &set) != 0) {
    spdlog::warn("could not pin to core {}; running unpinned", core);
  }
}

void set_up_process(const RankEnvironment& env) {
  // Every line says which rank wrote it: a group's ranks share one terminal.
  spdlog::set_pattern("[%H:%M:%S.%e] [rank " + std::to_string(env.rank) + "] [%l] %v");
  // Under the launcher the CLI shows progress itself; the ranks speak up
  // only for trouble unless SPDLOG_LEVEL asks for more.
  spdlog::set_level(env.control_fd ? spdlog::level::warn : spdlog::level::info);
  spdlog::cfg::load_env_levels();
  if (env.cpu_core)
    pin_to_core(*env.cpu_core);
  set_compute_threads(env.compute_threads);
}

}  // namespace

int worker_main(int argc, char** argv) {
  RankEnvironment env;
  try {
    env = read_rank_environment();
  } catch (const Error& e) {
    std::fprintf(stderr, "xdit-worker: error: %s\n", e.what());
    return kExitUsage;
  }
  set_up_process(env);
  if (env.control_fd)
    serve_launcher(env);
  return run_standalone(env, argc, argv);
}

}  // namespace xdit::workers
