#include "workers/group_spec.hpp"

#include "core/device.hpp"
#include "core/error.hpp"
#include "io/config.hpp"

namespace xdit::workers {

ComputeTarget GroupSpec::target(int local_rank) const {
  if (!gpus.empty())
    parse_gpu_list(gpus);
  return resolve_target(device, dtype, comm, local_rank);
}

pipelines::PipelineOptions GroupSpec::pipeline_options(int local_rank) const {
  const ComputeTarget where = target(local_rank);
  pipelines::PipelineOptions options;
  options.device = where.device;
  options.dtype = where.dtype;
  options.text_encoder_on_cpu = text_encoder_on_cpu;
  if (!scheduler.empty())
    options.scheduler_class = scheduler;
  return options;
}

nlohmann::json to_json(const parallel::ParallelConfig& c) {
  nlohmann::json json = {{"data_degree", c.data_degree},
                         {"cfg_degree", c.cfg_degree},
                         {"pipefusion_degree", c.pipefusion_degree},
                         {"warmup_steps", c.warmup_steps},
                         {"attn_layer_num_for_pp", c.attn_layer_num_for_pp},
                         {"ulysses_degree", c.ulysses_degree},
                         {"ring_degree", c.ring_degree},
                         {"tensor_degree", c.tensor_degree},
                         {"distrifusion_degree", c.distrifusion_degree},
                         {"use_parallel_vae", c.use_parallel_vae}};
  if (c.num_pipeline_patch)
    json["num_pipeline_patch"] = *c.num_pipeline_patch;
  return json;
}

parallel::ParallelConfig parallel_config_from_json(const nlohmann::json& json,
                                                   const std::string& source) {
  const io::Config config(json, source);
  parallel::ParallelConfig c;
  c.data_degree = config.get_or<int>("data_degree", 1);
  c.cfg_degree = config.get_or<int>("cfg_degree", 1);
  c.pipefusion_degree = config.get_or<int>("pipefusion_degree", 1);
  c.num_pipeline_patch = config.get_optional<int>("num_pipeline_patch");
  c.warmup_steps = config.get_or<int>("warmup_steps", c.warmup_steps);
  c.attn_layer_num_for_pp = config.get_or<std::vector<int>>("attn_layer_num_for_pp", {});
  c.ulysses_degree = config.get_or<int>("ulysses_degree", 1);
  c.ring_degree = config.get_or<int>("ring_degree", 1);
  c.tensor_degree = config.get_or<int>("tensor_degree", 1);
  c.distrifusion_degree = config.get_or<int>("distrifusion_degree", 1);
  c.use_parallel_vae = config.get_or<bool>("use_parallel_vae", false);
  return c;
}

nlohmann::json to_json(const GroupSpec& spec) {
  return {{"model", spec.model},
          {"variant", spec.variant},
          {"device", spec.device},
          {"dtype", spec.dtype},
          {"text_encoder_on_cpu", spec.text_encoder_on_cpu},
          {"comm", spec.comm},
          {"gpus", spec.gpus},
          {"scheduler", spec.scheduler},
          {"parallel", to_json(spec.parallel)},
          {"world_size", spec.world_size},
          {"comm_timeout_ms", spec.comm_timeout.count()}};
}

GroupSpec group_spec_from_json(const nlohmann::json& json, const std::string& source) {
  const io::Config config(json, source);
  GroupSpec spec;
  spec.model = config.get<std::string>("model");
  spec.variant = config.get_or<std::string>("variant", "");
  spec.device = config.get_or<std::string>("device", spec.device);
  spec.dtype = config.get_or<std::string>("dtype", spec.dtype);
  spec.text_encoder_on_cpu = config.get_or<bool>("text_encoder_on_cpu", false);
  spec.comm = config.get_or<std::string>("comm", spec.comm);
  spec.gpus = config.get_or<std::string>("gpus", "");
  spec.scheduler = config.get_or<std::string>("scheduler", "");
  const io::Config parallel = config.child("parallel");
  spec.parallel = parallel_config_from_json(parallel.json(), parallel.source());
  spec.world_size = config.get<int>("world_size");
  spec.comm_timeout = std::chrono::milliseconds(
      config.get_or<int64_t>("comm_timeout_ms", spec.comm_timeout.count()));
  return spec;
}

}  // namespace xdit::workers
