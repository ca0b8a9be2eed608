#pragma once
// What a worker group is built for: one model, loaded once, on one mesh.
// A group serves any number of requests for this spec (it stays warm);
// another model or other degrees need another group.

#include <c10/core/ScalarType.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "core/device.hpp"
#include "parallel/parallel_config.hpp"
#include "pipelines/dit_pipeline.hpp"

namespace xdit::workers {

struct GroupSpec {
  // A diffusers folder or a built-in name (builtin:scenes, the trained
  // default; builtin:tiny-pixart, ...); the launcher resolves it once and
  // sends the folder to the workers.
  std::string model = "builtin:scenes";
  std::string variant;          // weights variant ("fp16"); empty: the default weights
  std::string device = "auto";  // --device: auto, cpu, cuda or cuda:N (core/device.hpp)
  std::string dtype = "auto";   // --dtype of the transformer and text encoder
  bool text_encoder_on_cpu = false;
  std::string comm = "auto";  // --comm: auto, nccl or gloo (core/device.hpp)
  // --gpus "0,2": the workers' CUDA_VISIBLE_DEVICES; empty: as this process's.
  std::string gpus;
  std::string scheduler;  // scheduler class; empty: the model's
  parallel::ParallelConfig parallel;
  int world_size = 1;
  // Bounds the rendezvous and every collective of the workers.
  std::chrono::milliseconds comm_timeout = std::chrono::minutes(5);

  // Where the rank with this LOCAL_RANK computes and how it talks (its GPU,
  // when on GPUs). UsageError naming --device, --dtype or --comm when they
  // cannot be had here.
  ComputeTarget target(int local_rank = 0) const;
  pipelines::PipelineOptions pipeline_options(int local_rank = 0) const;
};

nlohmann::json to_json(const parallel::ParallelConfig& config);
parallel::ParallelConfig parallel_config_from_json(const nlohmann::json& json,
                                                   const std::string& source);

nlohmann::json to_json(const GroupSpec& spec);
// ConfigError naming the key when `json` is not a GroupSpec.
GroupSpec group_spec_from_json(const nlohmann::json& json, const std::string& source);

}  // namespace xdit::workers
