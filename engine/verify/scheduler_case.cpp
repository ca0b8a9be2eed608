#include <ATen/ATen.h>

#include <regex>

#include "core/error.hpp"
#include "schedulers/scheduler.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {
namespace {

// The vector's `call` records how set_timesteps was called: a step count
// ("s.set_timesteps(20)"), or explicit sigmas and mu stored as inputs.
schedulers::TimestepRequest recorded_request(const io::ReferenceVector& vector) {
  schedulers::TimestepRequest request;
  if (vector.has_input("sigmas")) {
    const at::Tensor sigmas = vector.input("sigmas").to(at::kDouble).contiguous();
    request.sigmas.assign(sigmas.data_ptr<double>(), sigmas.data_ptr<double>() + sigmas.numel());
    if (vector.has_input("mu"))
      request.mu = vector.input("mu").item<double>();
    return request;
  }
  const auto call = vector.metadata().find("call");
  static const std::regex kSetTimesteps(R"(set_timesteps\((\d+)\))");
  std::smatch match;
  if (call == vector.metadata().end() || !std::regex_search(call->second, match, kSetTimesteps)) {
    throw FileError(vector.path().string(),
                    "__metadata__ call does not say how set_timesteps was called");
  }
  request.num_inference_steps = std::stoll(match[1].str());
  return request;
}

}  // namespace

// Replays the recorded model outputs through the scheduler, one step each.
Outputs run_scheduler_case(const io::ReferenceVector& vector, at::ScalarType dtype) {
  const auto scheduler = schedulers::make_scheduler(vector.config(), vector.class_name());
  scheduler->set_timesteps(recorded_request(vector));

  // The schedule itself (sigmas, timesteps) is float32 whatever `dtype`, as
  // in diffusers; the steps' arithmetic follows the samples.
  const at::Tensor model_outputs = vector.input("model_outputs").to(dtype);
  const int64_t steps = scheduler->num_inference_steps();
  if (model_outputs.size(0) != steps) {
    throw FileError(vector.path().string(), "holds " + std::to_string(model_outputs.size(0)) +
                                                " model outputs for " + std::to_string(steps) +
                                                " scheduler steps");
  }
  at::Tensor sample = vector.input("initial_sample").to(dtype);
  schedulers::SchedulerState state;
  std::vector<at::Tensor> samples;
  for (int64_t i = 0; i < steps; ++i) {
    sample = scheduler->step(model_outputs[i], i, sample, state);
    samples.push_back(sample);
  }

  Outputs outputs{{"timesteps", scheduler->timesteps()}, {"samples", at::stack(samples)}};
  if (const auto sigmas = scheduler->sigmas())
    outputs["sigmas"] = *sigmas;
  if (const auto alphas_cumprod = scheduler->alphas_cumprod()) {
    outputs["alphas_cumprod"] = *alphas_cumprod;
  }
  return outputs;
}

}  // namespace xdit::verify
