#pragma once
// Deterministic random weights made on demand, for the built-in model and
// the benchmarks. A model built on this source asks for its tensors as usual
// and gets fresh ones of exactly the shapes its config implies; the made
// tensors can then be written out as the model's checkpoint. Each tensor
// depends only on the seed and its key, not on the order of requests.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors_writer.hpp"
#include "io/weight_source.hpp"

namespace xdit::io {

class SyntheticWeights final : public WeightSource {
 public:
  explicit SyntheticWeights(uint64_t seed, std::string description = "synthetic weights");

  // Makes `key` unless it exists: 1-D "*.weight" tensors (norm scales) are
  // ones, "*.bias" zeros, everything else Gaussian with std 1/sqrt(fan-in),
  // which keeps activations at unit scale through random layers.
  void prepare(const std::string& key, const std::vector<int64_t>& shape) const override;

  std::vector<std::string> keys() const override;
  bool contains(const std::string& key) const override;
  std::vector<int64_t> shape(const std::string& key) const override;
  at::Tensor load(const std::string& key) const override;
  std::string location(const std::string&) const override { return description_; }
  std::string describe() const override { return description_; }

  // Everything made so far, in the order it was asked for.
  NamedTensors tensors() const;

 private:
  uint64_t seed_;
  std::string description_;
  mutable NamedTensors made_;
  mutable std::map<std::string, size_t> index_;
};

// Builds a `Model` (constructed as Model(config, weights, extra...)) on
// SyntheticWeights(seed) and returns the tensors it asked for: a model's
// whole checkpoint of random values, with exactly the keys and shapes its
// config implies (the built-in models; the starting values of training).
template <typename Model, typename Config, typename... Extra>
NamedTensors synthesize_model(const Config& config, uint64_t seed, const std::string& description,
                              Extra... extra) {
  auto source = std::make_shared<SyntheticWeights>(seed, description);
  const Weights weights(source, at::kFloat);
  Model model(config, weights, extra...);
  return source->tensors();
}

}  // namespace xdit::io
