// `xdit generate`: text to image with xDiT's flag names, in this process
// (--nproc 1) or on a group of xdit-worker processes.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "core/device.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "io/model_folder.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "workers/cancel_on_signal.hpp"
#include "workers/generate_settings.hpp"
#include "workers/launcher.hpp"
#include "workers/result_files.hpp"
#include "workers/worker_error.hpp"
#include "xdit/commands.hpp"
#include "xdit/progress_bar.hpp"

namespace xdit::app {
namespace {

struct GenerateOptions {
  workers::GenerateSettings settings;
  int nproc = 1;
  int threads = 0;
  std::string gpus;  // --gpus 0,2: CUDA_VISIBLE_DEVICES of this process and its workers
};

void write_outputs(const workers::GenerateSettings& settings, const io::ModelFolder& folder,
                   const pipelines::GenerationResult& result) {
  const auto record =
      workers::settings_json(settings, workers::scheduler_class(folder, settings.group), result);
  for (const auto& line :
       workers::write_result_files(result, settings.output, !settings.request.decode, record)) {
    std::printf("%s\n", line.c_str());
  }
  if (settings.request.decode)
    std::printf("%s\n", workers::timing_summary(result).c_str());
}

int run_in_process(const GenerateOptions& options, const io::ModelFolder& folder) {
  const auto& settings = options.settings;
  set_compute_threads(options.threads > 0 ? options.threads : available_cores());
  spdlog::info("loading {}", folder.root().string());
  const auto pipeline = pipelines::DitPipeline::load(folder, settings.group.pipeline_options());
  ProgressBar progress("denoising");
  pipelines::GenerationCallbacks callbacks;
  callbacks.on_step = [&](const pipelines::StepEvent& event) {
    progress.update(event.step, event.total);
  };
  const auto result = pipeline.generate(settings.request, callbacks);
  progress.finish();
  write_outputs(settings, folder, result);
  return 0;
}

// "rank 1: 0.412 s/step, 1.5 MB sent/step, peak memory 612 MB", and for a
// rank on a GPU "peak GPU memory 2140 MB on cuda:1 (NVIDIA H200)".
std::string rank_summary(const workers::MetricsMessage& m) {
  double seconds = 0;
  for (double s : m.step_seconds)
    seconds += s;
  const double steps = std::max<double>(1, static_cast<double>(m.step_seconds.size()));
  const double sent = m.comm.contains("total") ? m.comm["total"].value("bytes_sent", 0.0) : 0.0;
  char text[160];
  std::snprintf(text, sizeof(text),
                "rank %d: %.3f s/step, %.2f MB sent/step, peak %smemory %.0f MB", m.rank,
                seconds / steps, sent / steps / 1e6, m.memory.gpu ? "GPU " : "",
                static_cast<double>(workers::peak_bytes(m.memory)) / 1e6);
  return m.memory.gpu ? text + (" on " + m.memory.gpu->label()) : std::string(text);
}

int run_on_group(const GenerateOptions& options, const io::ModelFolder& folder) {
  const auto& settings = options.settings;
  workers::LaunchOptions launch;
  launch.threads_per_worker = options.threads > 0 ? options.threads : 1;
  workers::Launcher group(settings.group, launch);
  const workers::CancelOnSignal interrupt(group);
  try {
    std::fprintf(stderr, "starting %d workers (%s)\n", options.nproc,
                 settings.group.parallel.describe().c_str());
    group.wait_ready();
    ProgressBar progress("denoising");
    workers::GroupCallbacks callbacks;
    callbacks.on_progress = [&](const workers::ProgressMessage& step) {
      if (step.rank == 0)
        progress.update(step.step, step.total);
    };
    const auto out = group.generate(settings.request, callbacks);
    progress.finish();
    group.stop();
    write_outputs(settings, folder, out.result);
    for (const auto& metrics : out.metrics)
      std::printf("%s\n", rank_summary(metrics).c_str());
    return 0;
  } catch (const workers::GroupCancelled& e) {
    std::fprintf(stderr, "\nxdit: interrupted (%s): %s\n",
                 strsignal(workers::CancelOnSignal::received()), e.what());
    return 130;
  }
}

int run_generate(GenerateOptions options) {
  auto& settings = options.settings;
  // Before anything asks CUDA for its devices; workers inherit it.
  if (!options.gpus.empty()) {
    parse_gpu_list(options.gpus);
    ::setenv("CUDA_VISIBLE_DEVICES", options.gpus.c_str(), 1);
    settings.group.gpus = options.gpus;
  }
  workers::finish_settings(settings);
  if (options.nproc < 1)
    throw UsageError("--nproc " + std::to_string(options.nproc) + " is not a number of processes");
  settings.group.world_size = options.nproc;
  const io::ModelFolder folder(pipelines::resolve_model(settings.group.model),
                               settings.group.variant);
  // Every refusal of the degrees comes here, before any process starts.
  parallel::validate(settings.group.parallel, options.nproc,
                     pipelines::model_facts(folder, settings.request));
  return options.nproc == 1 ? run_in_process(options, folder) : run_on_group(options, folder);
}

}  // namespace

CommandRunner add_generate_command(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* command = app.add_subcommand("generate", "Generate images from a text prompt");
  workers::add_generate_flags(*command, options->settings);
  command
      ->add_option("--nproc", options->nproc,
                   "Processes (xdit-worker) to spread the generation over; 1 runs it in this "
                   "process. Their number is the product of the parallel degrees")
      ->capture_default_str();
  command->add_option("--threads", options->threads,
                      "Compute threads (default: all cores; with --nproc, per worker: 1)");
  command->add_option("--gpus", options->gpus,
                      "GPUs to run on, e.g. 0,2 (sets CUDA_VISIBLE_DEVICES; rank r takes the "
                      "r-th of them)");
  return [options] { return run_generate(*options); };
}

}  // namespace xdit::app
