#include "verify/conformance.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {
namespace {

using CaseRunner = Outputs (*)(const io::ReferenceVector&, at::ScalarType);

struct RegisteredClass {
  const char* class_name;
  CaseRunner run;
};

constexpr RegisteredClass kClasses[] = {
    {"PixArtTransformer2DModel", run_pixart_case},
    {"SD3Transformer2DModel", run_sd3_case},
    {"FluxTransformer2DModel", run_flux_case},
    {"T5EncoderModel", run_t5_case},
    {"CLIPTextModel", run_clip_case},
    {"CLIPTextModelWithProjection", run_clip_case},
    {"AutoencoderKL", run_autoencoder_kl_case},
    {"DPMSolverMultistepScheduler", run_scheduler_case},
    {"DDIMScheduler", run_scheduler_case},
    {"EulerDiscreteScheduler", run_scheduler_case},
    {"FlowMatchEulerDiscreteScheduler", run_scheduler_case},
};

double max_difference(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor diff = (a.to(at::kDouble) - b.to(at::kDouble)).abs();
  return diff.numel() == 0 ? 0.0 : diff.max().item<double>();
}

double max_magnitude(const at::Tensor& t) {
  return t.numel() == 0 ? 0.0 : t.to(at::kDouble).abs().max().item<double>();
}

// `tolerance` as verify_reference describes it.
OutputCheck compare(const std::string& name, const at::Tensor& expected, const Outputs& computed,
                    const Outputs& computed64, double vector_tolerance,
                    std::optional<double> tolerance) {
  OutputCheck check{name, std::numeric_limits<double>::infinity(), "", 0.0, 0.0};
  const auto it = computed.find(name);
  const auto it64 = computed64.find(name);
  if (it == computed.end() || it64 == computed64.end()) {
    check.problem = "not computed";
  } else if (it->second.sizes() != expected.sizes()) {
    check.problem =
        "shape " + c10::str(it->second.sizes()) + ", expected " + c10::str(expected.sizes());
  } else {
    check.max_abs_error = max_difference(it->second, expected);
    if (std::isnan(check.max_abs_error))
      check.problem = "NaN in output";
    check.rounding = max_difference(it->second, it64->second);
    check.tolerance =
        tolerance.value_or(std::max(vector_tolerance, reorder_tolerance(it->second, it64->second)));
  }
  return check;
}

}  // namespace

bool CaseReport::passed() const {
  for (const auto& output : outputs) {
    if (!output.problem.empty() || !(output.max_abs_error <= output.tolerance))
      return false;
  }
  return !outputs.empty();
}

double reorder_tolerance(const at::Tensor& f32, const at::Tensor& f64) {
  constexpr double kFloat32Unit = 0x1p-24;
  return (1 + kOtherOrderFactor) * max_difference(f32, f64) + 2 * kFloat32Unit * max_magnitude(f64);
}

std::vector<std::string> supported_classes() {
  std::vector<std::string> names;
  for (const auto& entry : kClasses)
    names.emplace_back(entry.class_name);
  return names;
}

Outputs run_reference_case(const io::ReferenceVector& vector, at::ScalarType dtype) {
  const compat::InferenceGuard no_grad;
  CaseRunner run = nullptr;
  for (const auto& entry : kClasses) {
    if (vector.class_name() == entry.class_name)
      run = entry.run;
  }
  if (run == nullptr) {
    std::string known;
    for (const auto& name : supported_classes())
      known += (known.empty() ? "" : ", ") + name;
    throw UsageError(vector.path().string() + ": module class '" + vector.class_name() +
                     "' is not supported by xdit verify (supported: " + known + ")");
  }
  return run(vector, dtype);
}

CaseReport verify_reference(const std::filesystem::path& path, std::optional<double> tolerance) {
  const io::ReferenceVector vector(path);
  const Outputs computed = run_reference_case(vector);
  const Outputs computed64 = run_reference_case(vector, at::kDouble);
  CaseReport report{
      vector.case_name(), vector.class_name(), tolerance.value_or(vector.tolerance()), {}};
  for (const auto& name : vector.output_names()) {
    report.outputs.push_back(
        compare(name, vector.output(name), computed, computed64, vector.tolerance(), tolerance));
  }
  return report;
}

}  // namespace xdit::verify
