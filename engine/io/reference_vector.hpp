#pragma once
// A reference vector: one safetensors file made with a reference
// implementation, holding weights (`w.<state_dict key>`), inputs (`in.*`),
// outputs (`out.*`), helpers (`aux.*`) and, in __metadata__, the module's
// class, its config and how forward was called.

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "io/config.hpp"
#include "io/weight_source.hpp"

namespace xdit::io {

class ReferenceVector {
 public:
  explicit ReferenceVector(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::string case_name() const;
  const std::string& class_name() const { return class_name_; }
  const Config& config() const { return config_; }
  double tolerance() const { return tolerance_; }
  const std::map<std::string, std::string>& metadata() const;

  // The module's weights: the `w.` tensors, keys without the prefix.
  Weights weights(at::ScalarType dtype = at::kFloat) const;

  bool has_input(const std::string& name) const;
  at::Tensor input(const std::string& name) const;  // "hidden_states" reads in.hidden_states
  at::Tensor aux(const std::string& name) const;
  // Output names without the `out.` prefix.
  std::vector<std::string> output_names() const;
  at::Tensor output(const std::string& name) const;

 private:
  at::Tensor tensor(const std::string& key) const;

  std::filesystem::path path_;
  std::shared_ptr<SafetensorsWeights> file_;
  std::string class_name_;
  Config config_;
  double tolerance_ = 1e-5;
};

}  // namespace xdit::io
