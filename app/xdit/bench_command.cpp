// `xdit bench`: speed and memory figures of the engine on this machine,
// printed as they are measured and optionally written as JSON. The serial
// cases run in this process; the parallel methods (`--cases methods` or
// their method_* names) each on a worker group of their own.

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bench/gpu_cases.hpp"
#include "bench/record.hpp"
#include "bench/serial_cases.hpp"
#include "bench/vae_cases.hpp"
#include "core/error.hpp"
#include "core/gpu_info.hpp"
#include "core/threads.hpp"
#include "core/utc_time.hpp"
#include "io/atomic_write.hpp"
#include "models/attention_kernel.hpp"
#include "workers/method_bench.hpp"
#include "workers/quality_bench.hpp"
#include "xdit/commands.hpp"
#include "xdit/machine_info.hpp"
#include "xdit/sweep_command.hpp"

namespace xdit::app {
namespace {

struct BenchOptions {
  int threads = 1;
  bench::BenchSettings settings;
  std::vector<std::string> cases;
  bool list = false;
  std::optional<std::string> json_path;
  std::string device = "cpu";  // cuda: the GPU cases instead of the CPU ones
  // The model of the method_* cases, or the models of a sweep.
  std::vector<std::string> models;
  SweepCommandOptions sweep;
};

std::string attention_simd() {
  switch (models::supported_simd_widths().back()) {
    case models::SimdWidth::k16:
      return "AVX-512 (16 lanes)";
    case models::SimdWidth::k8:
      return "AVX2 (8 lanes)";
    default:
      return "portable (4 lanes)";
  }
}

nlohmann::ordered_json environment_json(const BenchOptions& options) {
  nlohmann::ordered_json environment;
  environment["date"] = utc_now();
  environment["cpu"] = cpu_model();
  environment["cores_available"] = available_cores();
  environment["threads"] = options.threads;
  environment["torch"] = TORCH_VERSION;
  environment["attention_simd"] = attention_simd();
  if (options.device == "cuda")
    environment["gpu"] = gpu_name(0);
  environment["warmup"] = options.settings.warmup;
  environment["repeats"] = options.settings.repeats;
  environment["seed"] = options.settings.seed;
  return environment;
}

constexpr const char* kAllMethods = "methods";
constexpr const char* kQuality = "quality";

void list_cases(const std::vector<bench::BenchCase>& serial) {
  for (const auto& c : serial)
    std::printf("%-28s %s\n", c.name.c_str(), c.description.c_str());
  std::printf("%-28s %s\n", kAllMethods,
              "every method_* case below (not run by default; a few minutes)");
  std::printf("%-28s %s\n", kQuality,
              "image error of PipeFusion and DistriFusion against serial by warm-up steps (not "
              "run by default; a few minutes)");
  for (const auto& c : workers::method_cases()) {
    const std::string what =
        c.label +
        (c.world_size == 1 ? ", 1 process"
                           : ", " + std::to_string(c.world_size) + " worker processes") +
        (c.method == bench::ParallelMethod::kSerial ? " (runs with every method case)" : "");
    std::printf("%-28s %s\n", c.name.c_str(), what.c_str());
  }
}

// The method_* cases asked for, `methods` standing for all of them.
std::vector<std::string> method_names(const std::set<std::string>& wanted) {
  std::vector<std::string> names;
  for (const auto& c : workers::method_cases()) {
    if (wanted.count(kAllMethods) || wanted.count(c.name))
      names.push_back(c.name);
  }
  return names;
}

void run_methods(const BenchOptions& options, const std::vector<std::string>& names,
                 nlohmann::ordered_json& records) {
  workers::MethodBenchSettings settings;
  settings.warmup_requests = options.settings.warmup;
  settings.counted_steps = options.settings.repeats;
  settings.seed = options.settings.seed;
  if (options.models.size() > 1)
    throw UsageError("xdit bench: the method cases run one --model (a sweep takes several)");
  if (!options.models.empty())
    settings.model = options.models.front();
  std::printf(
      "parallel methods on %s, each row on a fresh worker group: %d warm-up request(s) of %lld "
      "steps, then one of %lld steps whose first is not counted; s/step is the median of the "
      "counted steps, each at its slowest rank\n\n",
      settings.model.c_str(), settings.warmup_requests,
      static_cast<long long>(settings.warmup_steps),
      static_cast<long long>(settings.counted_steps + 1));
  std::fflush(stdout);
  const std::vector<bench::Record> rows =
      workers::run_method_bench(names, settings, [&](const bench::Record& record) {
        std::printf("%s\n", bench::format_record(record).c_str());
        std::fflush(stdout);
        records.push_back(bench::to_json(record));
      });
  std::printf("%s\n", workers::format_method_table(rows).c_str());
}

void run_quality(const BenchOptions& options, nlohmann::ordered_json& records) {
  workers::QualityBenchSettings settings;
  settings.seeds = {options.settings.seed, options.settings.seed + 1};
  if (options.models.size() > 1)
    throw UsageError("xdit bench: the quality case runs one --model");
  if (!options.models.empty())
    settings.model = options.models.front();
  std::printf(
      "prompt accuracy and PSNR against serial on %s, %zu scene prompts x %zu seeds, %lld "
      "steps, 2 ranks per parallel run\n\n",
      settings.model.c_str(), settings.prompts, settings.seeds.size(),
      static_cast<long long>(settings.steps));
  std::fflush(stdout);
  const std::vector<bench::Record> rows =
      workers::run_quality_bench(settings, [&](const bench::Record& record) {
        std::printf("%s\n", bench::format_record(record).c_str());
        std::fflush(stdout);
        records.push_back(bench::to_json(record));
      });
  std::printf("%s\n", workers::format_quality_table(rows, settings).c_str());
}

int run_bench(const BenchOptions& options) {
  if (options.device != "cpu" && options.device != "cuda")
    throw UsageError("xdit bench: --device " + options.device + " (cpu or cuda)");
  std::vector<bench::BenchCase> all;
  if (options.device == "cuda") {
    all = bench::gpu_cases();
  } else {
    all = bench::serial_cases();
    for (auto& c : bench::vae_cases())
      all.push_back(std::move(c));
  }
  if (options.list) {
    list_cases(all);
    return 0;
  }
  const std::set<std::string> wanted(options.cases.begin(), options.cases.end());
  const std::vector<std::string> methods = method_names(wanted);
  std::vector<const bench::BenchCase*> selected;
  for (const auto& c : all) {
    if (wanted.empty() || wanted.count(c.name))
      selected.push_back(&c);
  }
  for (const auto& name : wanted) {
    const bool known =
        std::any_of(all.begin(), all.end(), [&](const auto& c) { return c.name == name; }) ||
        name == kAllMethods || name == kQuality ||
        std::find(methods.begin(), methods.end(), name) != methods.end();
    if (!known)
      throw UsageError("xdit bench: no case '" + name + "' (see xdit bench --list)");
  }
  if (options.threads < 1)
    throw UsageError("xdit bench: --threads must be at least 1");
  if (options.settings.repeats < 1)
    throw UsageError("xdit bench: --repeats must be at least 1");
  if (options.settings.warmup < 0)
    throw UsageError("xdit bench: --warmup must not be negative");

  set_compute_threads(options.threads);
  const nlohmann::ordered_json environment = environment_json(options);
  std::printf("xdit bench: %s, %d thread(s) of %d cores, LibTorch %s, attention kernel %s\n",
              environment["cpu"].get<std::string>().c_str(), options.threads, available_cores(),
              TORCH_VERSION, attention_simd().c_str());
  std::printf("fastest of %d timed run(s) after %d warm-up run(s)\n\n", options.settings.repeats,
              options.settings.warmup);
  std::fflush(stdout);

  nlohmann::ordered_json records = nlohmann::ordered_json::array();
  for (const bench::BenchCase* c : selected) {
    std::fprintf(stderr, "running %s ...\n", c->name.c_str());
    const bench::Record record = c->run(options.settings);
    std::printf("%s\n", bench::format_record(record).c_str());
    std::fflush(stdout);
    records.push_back(bench::to_json(record));
  }
  if (!methods.empty())
    run_methods(options, methods, records);
  if (wanted.count(kQuality))
    run_quality(options, records);

  if (options.json_path) {
    nlohmann::ordered_json report;
    report["format"] = "xdit-bench/1";
    report["environment"] = environment;
    report["records"] = records;
    const std::string text = report.dump(2) + "\n";
    io::write_file_atomically(*options.json_path, {text});
    std::printf("figures written to %s\n", options.json_path->c_str());
  }
  return 0;
}

}  // namespace

CommandRunner add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* command = app.add_subcommand(
      "bench",
      "Measure the engine on this machine: GEMM rate, attention kernel, PixArt-XL transformer "
      "steps (random weights), peak memory; with --cases methods, the parallel methods on 2 "
      "worker processes");
  command->add_option("--threads", options->threads, "Compute threads (ATen and BLAS)")
      ->capture_default_str();
  command
      ->add_option("--repeats,--steps", options->settings.repeats,
                   "Timed runs per case (transformer steps), the fastest reported; for the "
                   "methods, counted steps, the median reported")
      ->capture_default_str();
  command
      ->add_option("--warmup", options->settings.warmup,
                   "Untimed runs before the timed ones (for the methods: warm-up requests)")
      ->capture_default_str();
  command->add_option("--seed", options->settings.seed, "Seed of the random weights and inputs")
      ->capture_default_str();
  command->add_option("--cases", options->cases, "Run only these cases (see --list)")
      ->delimiter(',');
  command->add_flag("--list", options->list, "List the cases and exit");
  command
      ->add_option("--device", options->device,
                   "cpu: the engine's CPU cases; cuda: a bfloat16 GEMM and PixArt-XL steps at "
                   "1024 and 2048 px on the first visible GPU")
      ->capture_default_str();
  command->add_option("--json", options->json_path, "Also write the figures as JSON to this file");
  command->add_option("--model", options->models,
                      "The model of the method_* cases (default builtin:bench-pixart; "
                      "builtin:bench-flux is a Flux-shaped MMDiT), of the quality case (default "
                      "builtin:scenes), or the models of a --config sweep");

  const std::string sweep = "Sweeps (docs/sweeps.md)";
  command
      ->add_option("--sweep", options->sweep.sweep_file,
                   "Run the sweep this JSON file describes: every row on a fresh worker group")
      ->group(sweep);
  command
      ->add_option("--config", options->sweep.configs,
                   "A sweep row's `xdit generate` flags, e.g. \"--nproc 2 --ulysses_degree 2\" "
                   "(repeat for more rows)")
      ->group(sweep);
  command
      ->add_option("--results", options->sweep.results,
                   "The sweep's results, appended row by row; a rerun resumes after the rows it "
                   "holds (default: FILE.results.jsonl beside --sweep FILE, else xdit-sweep.jsonl)")
      ->group(sweep);
  command
      ->add_option("--calibration", options->sweep.calibration,
                   "The planner's calibration for the predicted column (default: the one `xdit "
                   "plan --calibrate` saved, where there is one)")
      ->group(sweep);
  command->add_option("--report", options->sweep.reports.html, "Write the sweep's HTML report")
      ->group(sweep);
  command->add_option("--csv", options->sweep.reports.csv, "Write the sweep's figures as CSV")
      ->group(sweep);
  command->add_option("--pdf", options->sweep.reports.pdf, "Print the report to PDF (Chromium)")
      ->group(sweep);
  return [options, command] {
    if (options->sweep.sweep_file || !options->sweep.configs.empty()) {
      SweepCommandOptions sweep = options->sweep;
      sweep.models = options->models;
      sweep.reports.json = options->json_path;
      if (command->count("--warmup"))
        sweep.warmup_runs = options->settings.warmup;
      if (command->count("--repeats"))
        sweep.repeats = options->settings.repeats;
      return run_sweep_command(sweep);
    }
    return run_bench(*options);
  };
}

}  // namespace xdit::app
