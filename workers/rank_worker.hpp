#pragma once
// One rank of a worker group, whoever started it: joins the rendezvous,
// forms the mesh's communicators, loads this rank's part of the pipeline
// once, then runs requests on it. Each step is reported with this rank's
// time, communication and memory, for progress and per-rank metrics.

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "parallel/comm_timeline.hpp"
#include "parallel/communicator.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "workers/group_spec.hpp"
#include "workers/memory_sample.hpp"
#include "workers/rank_environment.hpp"

namespace xdit::workers {

struct StepReport {
  int64_t step = 0;  // steps completed
  int64_t total = 0;
  double seconds = 0;
  nlohmann::json comm;  // this step's parallel::CommStats
  MemorySample memory;
};

struct RankCallbacks {
  std::function<void(const StepReport&)> on_step;
  // This rank's rows of the latents after `step` (see DitPipeline::generate).
  std::function<void(const at::Tensor& latents, int64_t step)> on_latents;
};

struct RankOutcome {
  pipelines::GenerationResult result;  // images on rank 0 only
  nlohmann::json comm;                 // summed over the request
  MemorySample memory;
  parallel::StepTimeline timeline;  // the last denoising step's waits
};

class RankWorker {
 public:
  // Checks the degrees against the world, meets the other ranks and loads
  // the pipeline. Every rank of the group constructs one with the same spec.
  RankWorker(const RankEnvironment& environment, const GroupSpec& spec);
  ~RankWorker();
  RankWorker(const RankWorker&) = delete;
  RankWorker& operator=(const RankWorker&) = delete;

  int rank() const { return rank_; }
  double load_seconds() const { return load_seconds_; }
  // The transformer's tensors this rank holds (its stage and tensor shard).
  int64_t transformer_parameter_bytes() const;
  // This process's memory, and its GPU's when it computes on one.
  MemorySample memory() const { return sample_memory(gpu_index_); }

  // Every rank calls it with the same request.
  RankOutcome generate(const pipelines::GenerationRequest& request,
                       const RankCallbacks& callbacks = {});

 private:
  int rank_;
  int gpu_index_ = -1;  // the CUDA device of this rank, -1 on a CPU
  double load_seconds_ = 0;
  std::unique_ptr<parallel::Communicator> comm_;
  std::unique_ptr<pipelines::DitPipeline> pipeline_;
};

// Adds the counters of `part` (a CommStats JSON) into `total`.
void add_comm_counts(nlohmann::json& total, const nlohmann::json& part);

}  // namespace xdit::workers
