#include "verify/conformance.hpp"

#include <ATen/ATen.h>

#include <limits>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {
namespace {

using CaseRunner = Outputs (*)(const io::ReferenceVector&);

struct RegisteredClass {
  const char* class_name;
  CaseRunner run;
};

constexpr RegisteredClass kClasses[] = {
    {"PixArtTransformer2DModel", run_pixart_case},
    {"T5EncoderModel", run_t5_case},
    {"AutoencoderKL", run_autoencoder_kl_case},
    {"DPMSolverMultistepScheduler", run_scheduler_case},
    {"DDIMScheduler", run_scheduler_case},
    {"EulerDiscreteScheduler", run_scheduler_case},
    {"FlowMatchEulerDiscreteScheduler", run_scheduler_case},
};

OutputCheck compare(const std::string& name, const at::Tensor& expected, const Outputs& computed) {
  OutputCheck check{name, std::numeric_limits<double>::infinity(), ""};
  const auto it = computed.find(name);
  if (it == computed.end()) {
    check.problem = "not computed";
  } else if (it->second.sizes() != expected.sizes()) {
    check.problem = "shape " + c10::str(it->second.sizes()) + ", expected " +
                    c10::str(expected.sizes());
  } else {
    const at::Tensor diff = (it->second.to(at::kDouble) - expected.to(at::kDouble)).abs();
    check.max_abs_error = diff.numel() == 0 ? 0.0 : diff.max().item<double>();
    if (std::isnan(check.max_abs_error)) check.problem = "NaN in output";
  }
  return check;
}

}  // namespace

bool CaseReport::passed() const {
  for (const auto& output : outputs) {
    if (!output.problem.empty() || !(output.max_abs_error <= tolerance)) return false;
  }
  return !outputs.empty();
}

std::vector<std::string> supported_classes() {
  std::vector<std::string> names;
  for (const auto& entry : kClasses) names.emplace_back(entry.class_name);
  return names;
}

CaseReport verify_reference(const std::filesystem::path& path, std::optional<double> tolerance) {
  const compat::InferenceGuard no_grad;
  const io::ReferenceVector vector(path);
  CaseRunner run = nullptr;
  for (const auto& entry : kClasses) {
    if (vector.class_name() == entry.class_name) run = entry.run;
  }
  if (run == nullptr) {
    std::string known;
    for (const auto& name : supported_classes()) known += (known.empty() ? "" : ", ") + name;
    throw UsageError(path.string() + ": module class '" + vector.class_name() +
                     "' is not supported by xdit verify (supported: " + known + ")");
  }
  const Outputs computed = run(vector);
  CaseReport report{vector.case_name(), vector.class_name(), tolerance.value_or(vector.tolerance()),
                    {}};
  for (const auto& name : vector.output_names()) {
    report.outputs.push_back(compare(name, vector.output(name), computed));
  }
  return report;
}

}  // namespace xdit::verify
