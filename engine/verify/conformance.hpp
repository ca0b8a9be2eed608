#pragma once
// The conformance runner behind `xdit verify`: builds the module a reference
// vector names from the vector's own config, runs it as the metadata's
// `call` describes and compares every `out.*` tensor.
//
// The references were computed in float32 by another library on another
// machine, summing in other orders, so an output can differ from its
// reference by float32's rounding alone. How much depends on the model's
// depth and the outputs' size, not on a fixed number: the case also runs in
// float64, and the difference between the two runs measures it
// (docs/testing.md).

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/reference_vector.hpp"

namespace xdit::verify {

// Outputs computed for a case, keyed like the vector's outputs (no "out.").
using Outputs = std::map<std::string, at::Tensor>;

struct OutputCheck {
  std::string name;
  double max_abs_error = 0.0;  // +inf when missing or of another shape
  std::string problem;         // empty when compared
  double rounding = 0.0;       // max |float32 output - float64 output|
  double tolerance = 0.0;      // what max_abs_error is held to
};

struct CaseReport {
  std::string case_name;
  std::string class_name;
  double tolerance = 0.0;  // the vector's own, or the caller's
  std::vector<OutputCheck> outputs;
  bool passed() const;
};

// Rounding errors of two summation orders are alike in size though not in
// sign; another float32 evaluation is taken to err by at most this many
// times the measured one, which leaves room for kernels that block
// differently.
inline constexpr double kOtherOrderFactor = 3;

// How far another float32 evaluation of a computation (the reference's) may
// lie from this float32 result `f32`, given its float64 twin `f64`: each
// within its error of f64, the other's taken as kOtherOrderFactor times the
// measured one, plus one float32 rounding of the largest output each, for
// outputs whose measured error happens to be 0.
double reorder_tolerance(const at::Tensor& f32, const at::Tensor& f64);

// The classes `xdit verify` can build ("PixArtTransformer2DModel", ...).
std::vector<std::string> supported_classes();

// The outputs the vector's module gives in `dtype` (float32 as the vector
// was made, float64 to measure float32's rounding).
Outputs run_reference_case(const io::ReferenceVector& vector, at::ScalarType dtype = at::kFloat);

// Runs one vector and holds each output to `tolerance` when given; else to
// the vector's own tolerance, or to reorder_tolerance where float32's
// rounding allows more.
CaseReport verify_reference(const std::filesystem::path& path,
                            std::optional<double> tolerance = std::nullopt);

}  // namespace xdit::verify
