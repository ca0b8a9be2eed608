#pragma once
// Weights that are only shapes: a model built on this source asks for its
// tensors as usual and gets meta tensors (a shape and a dtype, no storage),
// so that a config alone tells how many bytes any part of a model holds (a
// PipeFusion stage, a tensor shard) without a checkpoint or the memory for
// one. The planner sizes meshes with it.

#include <map>
#include <string>
#include <vector>

#include "io/weight_source.hpp"

namespace xdit::io {

class ShapeWeights final : public WeightSource {
 public:
  explicit ShapeWeights(std::string description = "shapes only");

  void prepare(const std::string& key, const std::vector<int64_t>& shape) const override;
  std::vector<std::string> keys() const override;
  bool contains(const std::string& key) const override;
  std::vector<int64_t> shape(const std::string& key) const override;
  // A float32 meta tensor of the key's shape.
  at::Tensor load(const std::string& key) const override;
  std::string location(const std::string&) const override { return description_; }
  std::string describe() const override { return description_; }

 private:
  std::string description_;
  mutable std::map<std::string, std::vector<int64_t>> shapes_;
};

// A model's root view on shapes alone, in `dtype`, on the meta device (so
// that no tensor is ever copied out of one).
Weights shape_only_weights(const std::string& description, at::ScalarType dtype);

}  // namespace xdit::io
