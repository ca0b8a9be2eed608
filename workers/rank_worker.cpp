#include "workers/rank_worker.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/gpu_info.hpp"
#include "io/model_folder.hpp"
#include "parallel/mesh.hpp"

namespace xdit::workers {

void add_comm_counts(nlohmann::json& total, const nlohmann::json& part) {
  for (const auto& [key, value] : part.items()) {
    if (value.is_object()) {
      if (!total.contains(key))
        total[key] = nlohmann::json::object();
      add_comm_counts(total[key], value);
    } else if (value.is_number_integer()) {
      total[key] = total.value(key, int64_t{0}) + value.get<int64_t>();
    } else if (value.is_number()) {
      total[key] = total.value(key, 0.0) + value.get<double>();
    }
  }
}

RankWorker::RankWorker(const RankEnvironment& environment, const GroupSpec& spec)
    : rank_(environment.rank) {
  const auto start = std::chrono::steady_clock::now();
  const parallel::Mesh mesh(spec.parallel, environment.world_size, environment.rank);
  const std::string where =
      environment.store_file.empty()
          ? environment.master_addr + ":" + std::to_string(environment.master_port)
          : environment.store_file;
  spdlog::info("joining {} ({} processes) at {}", spec.parallel.describe(), environment.world_size,
               where);
  // Refused alike on every rank, before anyone waits for the others.
  const ComputeTarget target = spec.target(environment.local_rank);
  parallel::Rendezvous rendezvous = environment.rendezvous(spec.comm_timeout);
  rendezvous.device = target.device;
  rendezvous.host_staged = target.host_staged();
  if (target.device.is_cuda())
    gpu_index_ = target.device.index();
  comm_ = std::make_unique<parallel::Communicator>(rendezvous, mesh);
  const io::ModelFolder folder(spec.model, spec.variant);
  pipeline_ = std::make_unique<pipelines::DitPipeline>(
      pipelines::DitPipeline::load(folder, spec.pipeline_options(environment.local_rank), *comm_));
  load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("loaded {} in {:.2f} s", folder.root().string(), load_seconds_);
}

RankWorker::~RankWorker() = default;

int64_t RankWorker::transformer_parameter_bytes() const {
  return pipeline_->transformer().parameter_bytes();
}

RankOutcome RankWorker::generate(const pipelines::GenerationRequest& request,
                                 const RankCallbacks& callbacks) {
  RankOutcome outcome;
  outcome.comm = nlohmann::json::object();
  comm_->stats().reset();
  if (gpu_index_ >= 0)
    reset_gpu_peak(gpu_index_);  // each generation's own peak
  // Every step's waits are traced; the last step's are kept for the Gantt chart.
  parallel::CommTimeline timeline;
  comm_->stats().trace(&timeline);
  struct Untrace {
    parallel::CommStats& stats;
    ~Untrace() { stats.trace(nullptr); }
  } untrace{comm_->stats()};
  pipelines::GenerationCallbacks steps;
  steps.on_step = [&](const pipelines::StepEvent& event) {
    if (event.step == event.total) {
      outcome.timeline =
          timeline.cut(event.step, parallel::CommTimeline::Clock::now(), event.seconds);
    }
    timeline.clear();
    // Text encoding's traffic counts into the first step.
    StepReport report{event.step, event.total, event.seconds, comm_->stats().to_json(), memory()};
    comm_->stats().reset();
    add_comm_counts(outcome.comm, report.comm);
    if (callbacks.on_step)
      callbacks.on_step(report);
  };
  steps.on_latents = callbacks.on_latents;
  outcome.result = pipeline_->generate(request, steps);
  add_comm_counts(outcome.comm, comm_->stats().to_json());  // the decode's
  outcome.memory = memory();
  return outcome;
}

}  // namespace xdit::workers
