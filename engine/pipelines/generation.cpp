#include "pipelines/generation.hpp"

#include "io/config.hpp"

namespace xdit::pipelines {

nlohmann::json to_json(const GenerationRequest& request) {
  nlohmann::json json = {{"prompts", request.prompts},
                         {"negative_prompt", request.negative_prompt},
                         {"height", request.height},
                         {"width", request.width},
                         {"num_inference_steps", request.num_inference_steps},
                         {"seed", request.seed},
                         {"images_per_prompt", request.images_per_prompt},
                         {"use_resolution_binning", request.use_resolution_binning},
                         {"decode", request.decode}};
  if (request.max_sequence_length)
    json["max_sequence_length"] = *request.max_sequence_length;
  if (request.guidance_scale)
    json["guidance_scale"] = *request.guidance_scale;
  return json;
}

GenerationRequest request_from_json(const nlohmann::json& json, const std::string& source) {
  const io::Config config(json, source);
  GenerationRequest request;
  request.prompts = config.get<std::vector<std::string>>("prompts");
  request.negative_prompt = config.get_or<std::string>("negative_prompt", "");
  request.height = config.get_or<int64_t>("height", 0);
  request.width = config.get_or<int64_t>("width", 0);
  request.num_inference_steps =
      config.get_or<int64_t>("num_inference_steps", request.num_inference_steps);
  request.guidance_scale = config.get_optional<double>("guidance_scale");
  request.seed = config.get_or<uint64_t>("seed", 0);
  request.images_per_prompt = config.get_or<int64_t>("images_per_prompt", 1);
  request.use_resolution_binning = config.get_or<bool>("use_resolution_binning", true);
  request.decode = config.get_or<bool>("decode", true);
  request.max_sequence_length = config.get_optional<int64_t>("max_sequence_length");
  return request;
}

}  // namespace xdit::pipelines
