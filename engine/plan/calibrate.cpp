#include "plan/calibrate.hpp"

#include "bench/memory.hpp"
#include "bench/statistics.hpp"
#include "core/threads.hpp"
#include "core/utc_time.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "plan/link_probe.hpp"
#include "plan/planner.hpp"

namespace xdit::plan {

Calibration calibrate(const CalibrateOptions& options,
                      const std::function<void(const std::string&)>& say) {
  const auto tell = [&](const std::string& line) {
    if (say)
      say(line);
  };
  Calibration c;
  c.measured = utc_now();
  c.model = options.model;

  tell("rate: " + options.model + " steps at " + std::to_string(options.size) + " px on " +
       std::to_string(options.threads) + " thread(s)");
  set_compute_threads(options.threads);
  bench::reset_peak_memory();
  const io::ModelFolder folder(pipelines::resolve_model(options.model));
  const pipelines::DitPipeline pipeline = pipelines::DitPipeline::load(folder);
  pipelines::GenerationRequest request;
  request.prompts = {"a lighthouse on a cliff at dawn"};
  request.height = options.size;
  request.width = options.size;
  request.num_inference_steps = options.timed_steps + 1;
  request.use_resolution_binning = false;
  request.decode = false;
  std::vector<double> seconds;
  pipelines::GenerationCallbacks callbacks;
  callbacks.on_step = [&](const pipelines::StepEvent& event) {
    if (event.step > 1)
      seconds.push_back(event.seconds);
  };
  pipeline.generate(request, callbacks);
  const double peak = static_cast<double>(bench::memory_usage().peak_resident_bytes);

  // The planner's own count for this run: at 1 FLOP/s its compute seconds
  // are the FLOPs.
  PlanRequest plan;
  plan.request = request;
  plan.devices = 1;
  plan.dtype = at::kFloat;
  plan.flops_per_second = 1;
  const PlannedMesh serial = predict_mesh(folder, plan, parallel::ParallelConfig{});
  c.flops_per_second = serial.compute_seconds / bench::median(seconds);
  c.base_memory_bytes = std::max(0.0, peak - static_cast<double>(serial.memory_per_rank_bytes));
  c.device = std::to_string(options.threads) + " CPU thread(s)";

  // After the step, whose peak memory must not hold the probe's buffers.
  tell("link: two ranks exchanging 4 B and 16 MiB messages, then collectives");
  c.link = probe_local_link();
  // Gloo moves a CPU rank's bytes with its own core, at the exchange's rate.
  c.host_copy_bandwidth = c.link.bandwidth;
  return c;
}

}  // namespace xdit::plan
