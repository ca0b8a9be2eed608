// `xdit train-builtin`: trains the scene model that the built-in default is
// (train/train_builtin.hpp), with a progress bar per phase, resuming from
// the work folder's checkpoint, and writes what the run measured beside the
// weights (training.json).

#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/build_info.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "core/utc_time.hpp"
#include "train/train_builtin.hpp"
#include "xdit/commands.hpp"
#include "xdit/progress_bar.hpp"

namespace xdit::app {
namespace {

std::atomic<bool> g_stop{false};

void request_stop(int) {
  g_stop = true;
}

// Ctrl-C and SIGTERM end the run at the next step, after a checkpoint.
class StopOnSignal {
 public:
  StopOnSignal() {
    struct sigaction action {};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~StopOnSignal() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

struct TrainCommandOptions {
  train::TrainOptions train;
  std::string output = "scene-model";
  std::string work;
  std::string device = "cpu";
  int threads = 0;
  std::vector<std::string> command_line;
};

// Redraws at most every second (each step on a terminal would be thousands
// of lines in a log), and always at a phase's end.
class PhaseProgress {
 public:
  void operator()(const train::TrainProgress& progress) {
    const auto now = std::chrono::steady_clock::now();
    if (progress.phase != phase_) {
      if (bar_)
        bar_->finish();
      phase_ = progress.phase;
      bar_ = std::make_unique<ProgressBar>(phase_, progress.done - 1);
      shown_ = {};
    }
    if (progress.done < progress.total && now - shown_ < std::chrono::seconds(1))
      return;
    shown_ = now;
    char loss[48] = "";
    if (progress.phase != "latents")
      std::snprintf(loss, sizeof loss, "loss %.4f", progress.loss);
    bar_->update(progress.done, progress.total, loss);
    if (progress.done == progress.total)
      bar_->finish();
  }

 private:
  std::string phase_;
  std::unique_ptr<ProgressBar> bar_;
  std::chrono::steady_clock::time_point shown_{};
};

nlohmann::ordered_json report_json(const TrainCommandOptions& options,
                                   const train::TrainReport& report, int threads) {
  std::string command;
  for (const auto& word : options.command_line)
    command += (command.empty() ? "" : " ") + word;
  nlohmann::ordered_json phases = nlohmann::ordered_json::array();
  for (const auto& phase : report.phases) {
    phases.push_back({{"phase", phase.phase},
                      {"steps", phase.steps},
                      {"seconds", phase.seconds},
                      {"final_loss", phase.final_loss}});
  }
  return {{"command", command},
          {"finished_at", utc_now()},
          {"xdit", xdit_version() + " (" + git_revision() + ")"},
          {"libtorch", torch_version()},
          {"device", options.device},
          {"threads", threads},
          {"resumed", report.resumed},
          {"options", options.train.to_json()},
          {"scaling_factor", report.scaling_factor},
          {"parameters",
           {{"vae", report.vae_parameters},
            {"transformer", report.transformer_parameters},
            {"text_encoder", report.text_encoder_parameters}}},
          {"phases", phases}};
}

int run_train(TrainCommandOptions& options) {
  const int threads = options.threads > 0 ? options.threads : available_cores();
  set_compute_threads(threads);
  options.train.output = options.output;
  options.train.work_dir = options.work.empty() ? options.output + ".work" : options.work;
  options.train.device = resolve_device(options.device);
  const StopOnSignal stop_on_signal;
  PhaseProgress progress;
  const train::TrainReport report =
      train::train_builtin(options.train, std::ref(progress), &g_stop);
  if (!report.finished) {
    std::fprintf(stderr,
                 "xdit train-builtin: stopped; the checkpoint in %s keeps the progress: run the "
                 "same command to resume\n",
                 options.train.work_dir.c_str());
    return 130;
  }
  const auto figures = report_json(options, report, threads);
  std::ofstream(options.train.output / "training.json") << figures.dump(2) << "\n";
  std::printf("%s\n", figures.dump(2).c_str());
  std::printf(
      "wrote %s (generate with: xdit generate --model %s --prompt \"a red circle on a "
      "blue background\")\n",
      options.train.output.c_str(), options.train.output.c_str());
  return 0;
}

}  // namespace

CommandRunner add_train_command(CLI::App& app) {
  auto options = std::make_shared<TrainCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "train-builtin",
      "Train the built-in scene model (VAE, then PixArt transformer and T5) on scenes made at "
      "run time; resumes from the work folder's checkpoint");
  train::TrainOptions& t = options->train;
  command->add_option("-o,--output", options->output, "The diffusers folder to write")
      ->capture_default_str();
  command->add_option("--work", options->work,
                      "Checkpoint and latent cache (default: OUTPUT.work); an interrupted run "
                      "resumes from it");
  command->add_option("--init-from", t.init_from,
                      "Continue from this scene model's weights (same shape) instead of random "
                      "values; with --vae-steps 0 its VAE is kept");
  command->add_option("--vae-steps", t.vae_steps)->capture_default_str();
  command->add_option("--vae-batch", t.vae_batch)->capture_default_str();
  command->add_option("--vae-lr", t.vae_lr)->capture_default_str();
  command->add_option("--scenes", t.scenes, "Scenes whose latents the transformer learns from")
      ->capture_default_str();
  command->add_option("--transformer-steps", t.transformer_steps)->capture_default_str();
  command->add_option("--transformer-batch", t.transformer_batch)->capture_default_str();
  command->add_option("--transformer-lr", t.transformer_lr)->capture_default_str();
  command->add_option("--caption-dropout", t.caption_dropout)->capture_default_str();
  command->add_option("--layers", t.shape.layers, "Transformer blocks")->capture_default_str();
  command->add_option("--heads", t.shape.heads)->capture_default_str();
  command->add_option("--head-dim", t.shape.head_dim)->capture_default_str();
  command->add_option("--seed", t.seed)->capture_default_str();
  command->add_option("--checkpoint-seconds", t.checkpoint_seconds)->capture_default_str();
  command->add_option("--device", options->device, "cpu or cuda[:N]")->capture_default_str();
  command->add_option("--threads", options->threads, "CPU threads (default: all cores)");
  return [options, command] {
    options->command_line = {"xdit", "train-builtin"};
    for (const CLI::Option* option : command->get_options()) {
      if (option->count() == 0 || option->get_name() == "--help")
        continue;
      options->command_line.push_back(option->get_name());
      for (const auto& value : option->results())
        options->command_line.push_back(value);
    }
    return run_train(*options);
  };
}

}  // namespace xdit::app
