#include "schedulers/scheduler.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"
#include "schedulers/ddim.hpp"
#include "schedulers/dpm_solver_multistep.hpp"
#include "schedulers/euler_discrete.hpp"
#include "schedulers/flow_match_euler_discrete.hpp"

namespace xdit::schedulers {
namespace {

using Factory = std::unique_ptr<Scheduler> (*)(const io::Config&);

template <typename T>
std::unique_ptr<Scheduler> build(const io::Config& config) {
  return std::make_unique<T>(config);
}

struct RegisteredScheduler {
  const char* class_name;
  Factory make;
};

constexpr RegisteredScheduler kSchedulers[] = {
    {"DPMSolverMultistepScheduler", build<DpmSolverMultistepScheduler>},
    {"DDIMScheduler", build<DdimScheduler>},
    {"EulerDiscreteScheduler", build<EulerDiscreteScheduler>},
    {"FlowMatchEulerDiscreteScheduler", build<FlowMatchEulerDiscreteScheduler>},
};

std::string supported_list() {
  std::string names;
  for (const auto& entry : kSchedulers)
    names += (names.empty() ? "" : ", ") + std::string(entry.class_name);
  return names;
}

}  // namespace

const at::Tensor& Scheduler::timesteps() const {
  require_timesteps();
  return timesteps_;
}

int64_t Scheduler::num_inference_steps() const {
  return timesteps().size(0);
}

at::Tensor Scheduler::scale_model_input(const at::Tensor& sample, int64_t /*step_index*/) const {
  return sample;
}

at::Tensor Scheduler::step(const at::Tensor& model_output, int64_t step_index,
                           const at::Tensor& sample, SchedulerState& state) const {
  const std::string where = std::string(class_name()) + "::step";
  const int64_t steps = num_inference_steps();
  if (step_index < 0 || step_index >= steps) {
    throw UsageError(where + ": step index " + std::to_string(step_index) + " is outside [0, " +
                     std::to_string(steps) + ")");
  }
  if (state.last_step_index >= 0 && step_index != state.last_step_index + 1) {
    throw UsageError(where + ": step index " + std::to_string(step_index) +
                     " does not follow this state's last step " +
                     std::to_string(state.last_step_index) +
                     " (use one state per sample or patch, stepped in order)");
  }
  if (model_output.sizes() != sample.sizes()) {
    throw UsageError(where + ": model output " + c10::str(model_output.sizes()) + " and sample " +
                     c10::str(sample.sizes()) + " differ in shape");
  }
  // diffusers upcasts the sample and returns the model output's dtype.
  at::Tensor next = step_impl(model_output, step_index, sample.to(at::kFloat), state);
  state.last_step_index = step_index;
  return next.to(model_output.scalar_type());
}

void Scheduler::require_timesteps() const {
  if (!timesteps_.defined()) {
    throw UsageError(std::string(class_name()) + ": call set_timesteps before stepping");
  }
}

void Scheduler::check_request(const TimestepRequest& request, bool flow_matching) const {
  const std::string where = std::string(class_name()) + "::set_timesteps";
  if (!flow_matching && !request.sigmas.empty()) {
    throw UsageError(where +
                     ": explicit sigmas are supported by FlowMatchEulerDiscreteScheduler only");
  }
  if (!flow_matching && request.mu) {
    throw UsageError(where +
                     ": mu (dynamic shifting) is supported by "
                     "FlowMatchEulerDiscreteScheduler only");
  }
  if (request.sigmas.empty() && request.num_inference_steps <= 0) {
    throw UsageError(where + ": num_inference_steps must be positive, got " +
                     std::to_string(request.num_inference_steps));
  }
  const auto given = static_cast<int64_t>(request.sigmas.size());
  if (given > 0 && request.num_inference_steps > 0 && request.num_inference_steps != given) {
    throw UsageError(where + ": " + std::to_string(given) + " sigmas for " +
                     std::to_string(request.num_inference_steps) + " steps");
  }
}

std::vector<std::string> supported_scheduler_classes() {
  std::vector<std::string> names;
  for (const auto& entry : kSchedulers)
    names.emplace_back(entry.class_name);
  return names;
}

std::unique_ptr<Scheduler> make_scheduler(const io::Config& config,
                                          const std::optional<std::string>& class_name) {
  const std::string name = class_name ? *class_name : config.get<std::string>("_class_name");
  for (const auto& entry : kSchedulers) {
    if (name == entry.class_name)
      return entry.make(config);
  }
  const std::string what =
      "'" + name + "' is not a supported scheduler (supported: " + supported_list() + ")";
  if (class_name)
    throw UsageError("scheduler " + what);
  config.fail("_class_name", "is " + what);
}

}  // namespace xdit::schedulers
