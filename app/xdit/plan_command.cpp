// `xdit plan`: the meshes of N devices for a model and a request, predicted
// and ranked before any machine is booked (plan/planner.hpp).

#include <ATen/ATen.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/device.hpp"
#include "core/error.hpp"
#include "io/model_folder.hpp"
#include "pipelines/builtin_models.hpp"
#include "plan/calibrate.hpp"
#include "plan/calibration.hpp"
#include "plan/planner.hpp"
#include "xdit/commands.hpp"

namespace xdit::app {
namespace {

struct PlanOptions {
  std::string model;
  int64_t height = 0;
  int64_t width = 0;
  int64_t images = 1;
  std::optional<double> guidance_scale;
  std::optional<int64_t> max_sequence_length;
  int devices = 0;
  std::optional<double> device_memory_gib;
  std::string interconnect = "pcie";
  std::optional<double> bandwidth_gbps;
  std::optional<double> latency_us;
  std::optional<double> tflops;
  std::string dtype = "bfloat16";
  int top = 12;
  std::optional<std::string> json_path;
  bool calibrate = false;
  plan::CalibrateOptions calibrate_options;
  std::optional<std::filesystem::path> calibration_path;
};

std::filesystem::path calibration_path(const PlanOptions& options) {
  return options.calibration_path.value_or(plan::default_calibration_path());
}

plan::Calibration run_calibration(const PlanOptions& options) {
  std::printf("calibrating this machine\n");
  const plan::Calibration c =
      plan::calibrate(options.calibrate_options, [](const std::string& line) {
        std::printf("  %s\n", line.c_str());
        std::fflush(stdout);
      });
  plan::write_calibration(calibration_path(options), c);
  std::printf(
      "rate %.3g GFLOP/s per rank (%s step), link %.3g GB/s and %.3g us (per byte, all-to-all "
      "%.2f×, all-reduce %.2f×, all-gather %.2f× an exchange's), base memory %.0f MiB per rank; "
      "saved to %s\n\n",
      c.flops_per_second / 1e9, c.model.c_str(), c.link.bandwidth / 1e9, c.link.latency * 1e6,
      c.link.slowdown[static_cast<size_t>(plan::Collective::kAllToAll)],
      c.link.slowdown[static_cast<size_t>(plan::Collective::kAllReduce)],
      c.link.slowdown[static_cast<size_t>(plan::Collective::kAllGather)],
      c.base_memory_bytes / (1024.0 * 1024.0), calibration_path(options).c_str());
  return c;
}

int run_plan(const PlanOptions& options) {
  std::optional<plan::Calibration> calibration;
  if (options.calibrate) {
    calibration = run_calibration(options);
    if (options.model.empty())
      return 0;
  } else {
    calibration = plan::read_calibration(calibration_path(options));
  }
  if (options.model.empty() || options.devices == 0)
    throw UsageError("xdit plan: --model and --devices (or --calibrate alone)");
  plan::PlanRequest request;
  request.request.prompts = {"a plan"};
  request.request.images_per_prompt = options.images;
  request.request.height = options.height;
  request.request.width = options.width;
  request.request.use_resolution_binning = false;
  request.request.guidance_scale = options.guidance_scale;
  request.request.max_sequence_length = options.max_sequence_length;
  request.devices = options.devices;
  if (options.device_memory_gib)
    request.device_memory_bytes = *options.device_memory_gib * 1024.0 * 1024.0 * 1024.0;
  if (options.bandwidth_gbps || options.latency_us) {
    if (!options.bandwidth_gbps || !options.latency_us)
      throw UsageError("--bandwidth and --latency go together");
    request.link = plan::link_of(*options.bandwidth_gbps * 1e9, *options.latency_us * 1e-6);
  } else {
    request.link = plan::named_link(options.interconnect, calibration, calibration_path(options));
  }
  request.dtype = resolve_dtype(options.dtype, at::Device(at::kCUDA, 0));
  std::string rate_source = "given";
  if (options.tflops)
    request.flops_per_second = *options.tflops * 1e12;
  else
    rate_source = plan::use_this_machine(calibration, request);

  const io::ModelFolder folder(pipelines::resolve_model(options.model));
  const std::vector<plan::PlannedMesh> plans = plan::plan_meshes(folder, request);
  plan::PlanRequest single = request;
  single.devices = 1;
  const double serial = plan::predict_mesh(folder, single, {}).seconds_per_step;

  std::printf("%s, %d device(s), %s link (%.3g GB/s, %.3g us), %.3g TFLOP/s per device (%s)\n",
              options.model.c_str(), options.devices, request.link.name.c_str(),
              request.link.bandwidth / 1e9, request.link.latency * 1e6,
              request.flops_per_second / 1e12, rate_source.c_str());
  std::printf("one device: %.3g s/step\n\n", serial);
  std::printf("%-4s %-78s %10s %8s %10s %5s\n", "#", "flags", "s/step", "speedup", "GiB/rank",
              "fits");
  for (size_t i = 0; i < plans.size() && static_cast<int>(i) < options.top; ++i) {
    const plan::PlannedMesh& p = plans[i];
    std::printf("%-4zu %-78s %10.3g %8.2f %10.1f %5s\n", i + 1, p.flags.c_str(), p.seconds_per_step,
                serial / p.seconds_per_step,
                static_cast<double>(p.memory_per_rank_bytes) / (1024.0 * 1024.0 * 1024.0),
                p.fits ? "yes" : "no");
  }
  if (static_cast<int>(plans.size()) > options.top)
    std::printf("(%zu more; --top or --json for all)\n", plans.size() - options.top);
  std::printf("\n%s\n", plan::explain_best(plans, serial).c_str());

  if (options.json_path) {
    nlohmann::ordered_json configs = nlohmann::ordered_json::array();
    for (const plan::PlannedMesh& p : plans) {
      configs.push_back({{"flags", p.flags},
                         {"seconds_per_step", p.seconds_per_step},
                         {"memory_per_rank_bytes", p.memory_per_rank_bytes},
                         {"fits", p.fits},
                         {"why", p.why}});
    }
    std::ofstream out(*options.json_path);
    if (!out)
      throw FileError(*options.json_path, "cannot be written");
    out << nlohmann::ordered_json{{"configs", configs}}.dump(1) << "\n";
  }
  return 0;
}

}  // namespace

CommandRunner add_plan_command(CLI::App& app) {
  auto options = std::make_shared<PlanOptions>();
  CLI::App* command = app.add_subcommand(
      "plan",
      "Predict the seconds per step and memory per rank of every mesh of N devices for a model "
      "(its config files suffice) and rank them");
  command->add_option("--model", options->model, "diffusers folder (configs suffice) or builtin:");
  command->add_option("--devices", options->devices, "Devices (ranks) of the mesh");
  command->add_option("--height", options->height, "Image height (default: the model's)");
  command->add_option("--width", options->width, "Image width (default: the model's)");
  command->add_option("--num_images", options->images, "Images per request")->capture_default_str();
  command->add_option("--guidance_scale", options->guidance_scale,
                      "Guidance (default: the model's)");
  command->add_option("--max_sequence_length", options->max_sequence_length,
                      "Text tokens (default: the model's)");
  command->add_option("--device-memory", options->device_memory_gib, "GiB per device");
  command
      ->add_option("--interconnect", options->interconnect,
                   "nvlink, pcie or ethernet (presets), or measured (the calibration's link; "
                   "see also --bandwidth/--latency)")
      ->capture_default_str();
  command->add_option("--bandwidth", options->bandwidth_gbps, "Link bandwidth, GB/s per rank");
  command->add_option("--latency", options->latency_us, "Link latency, microseconds");
  command->add_option("--flops", options->tflops,
                      "Sustained TFLOP/s of one device (default: the calibration's, else this "
                      "machine's GEMM)");
  command->add_option("--dtype", options->dtype, "bfloat16, float16 or float32")
      ->capture_default_str();
  command->add_option("--top", options->top, "Rows shown")->capture_default_str();
  command->add_option("--json", options->json_path, "Write every mesh, best first, as JSON");
  command->add_flag("--calibrate", options->calibrate,
                    "Measure this machine first (a real transformer step's rate, the link "
                    "between two ranks, a rank's base memory) and keep it for later plans and "
                    "sweeps");
  command
      ->add_option("--calibrate-model", options->calibrate_options.model,
                   "The model whose step --calibrate times")
      ->capture_default_str();
  command
      ->add_option("--calibrate-threads", options->calibrate_options.threads,
                   "Threads of the calibrated rank (a CPU group's rank has one)")
      ->capture_default_str();
  command->add_option(
      "--calibration", options->calibration_path,
      "The calibration file (default: " + plan::default_calibration_path().string() + ")");
  return [options] { return run_plan(*options); };
}

}  // namespace xdit::app
