#include "workers/standalone_worker.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "pipelines/builtin_models.hpp"
#include "workers/generate_settings.hpp"
#include "workers/rank_worker.hpp"
#include "workers/result_files.hpp"
#include "workers/worker_main.hpp"

namespace xdit::workers {
namespace {

int generate(const RankEnvironment& env, GenerateSettings& settings) {
  finish_settings(settings);
  settings.group.world_size = env.world_size;
  const std::string model = settings.group.model;
  // Every rank resolves a built-in name; writing it is atomic, so they may race.
  settings.group.model = pipelines::resolve_model(model).string();
  const io::ModelFolder folder(settings.group.model, settings.group.variant);
  // The same check on every rank, before any waits for the others: a bad
  // mesh ends each rank with the same message instead of a hung rendezvous.
  parallel::validate(settings.group.parallel, env.world_size,
                     pipelines::model_facts(folder, settings.request));

  RankWorker worker(env, settings.group);
  RankCallbacks callbacks;
  if (env.rank == 0) {
    callbacks.on_step = [](const StepReport& step) {
      spdlog::info("step {}/{} ({:.3f} s)", step.step, step.total, step.seconds);
    };
  }
  const RankOutcome outcome = worker.generate(settings.request, callbacks);
  if (env.rank != 0)
    return kExitOk;
  settings.group.model = model;  // as the user named it, in the files' settings
  const auto settings_record =
      settings_json(settings, scheduler_class(folder, settings.group), outcome.result);
  for (const auto& line : write_result_files(outcome.result, settings.output,
                                             !settings.request.decode, settings_record)) {
    std::printf("%s\n", line.c_str());
  }
  std::printf("%s\n", timing_summary(outcome.result).c_str());
  return kExitOk;
}

}  // namespace

int run_standalone(const RankEnvironment& env, int argc, char** argv) {
  CLI::App app{
      "xdit-worker: one rank of an xdit worker group. Started by `xdit generate --nproc N` "
      "(or the Studio) it takes requests from the launcher; started by torchrun --no-python or "
      "srun it runs the request on its command line, and rank 0 writes the outputs. The group "
      "comes from RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT (or SLURM_PROCID, "
      "SLURM_NTASKS, SLURM_LOCALID).",
      "xdit-worker"};
  GenerateSettings settings;
  add_generate_flags(app, settings);
  int timeout_seconds = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(settings.group.comm_timeout).count());
  app.add_option("--comm_timeout", timeout_seconds,
                 "Seconds a rank waits for the others (rendezvous, every collective)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  settings.group.comm_timeout = std::chrono::seconds(timeout_seconds);
  try {
    return generate(env, settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xdit-worker: rank %d of %d: error: %s\n", env.rank, env.world_size,
                 e.what());
    return kExitFailed;
  }
}

}  // namespace xdit::workers
