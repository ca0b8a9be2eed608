#pragma once
// The conformance runner behind `xdit verify`: builds the module a reference
// vector names from the vector's own config, runs it as the metadata's
// `call` describes and compares every `out.*` tensor.

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
};

struct CaseReport {
  std::string case_name;
  std::string class_name;
  double tolerance = 0.0;
  std::vector<OutputCheck> outputs;
  bool passed() const;
};

// The classes `xdit verify` can build ("PixArtTransformer2DModel", ...).
std::vector<std::string> supported_classes();

// Runs one vector; `tolerance` overrides the vector's own.
CaseReport verify_reference(const std::filesystem::path& path,
                            std::optional<double> tolerance = std::nullopt);

}  // namespace xdit::verify
