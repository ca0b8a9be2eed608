#include "io/shape_weights.hpp"

#include <ATen/ATen.h>

#include <memory>

#include "core/error.hpp"

namespace xdit::io {

ShapeWeights::ShapeWeights(std::string description) : description_(std::move(description)) {}

void ShapeWeights::prepare(const std::string& key, const std::vector<int64_t>& shape) const {
  shapes_.emplace(key, shape);
}

std::vector<std::string> ShapeWeights::keys() const {
  std::vector<std::string> keys;
  for (const auto& [key, shape] : shapes_)
    keys.push_back(key);
  return keys;
}

bool ShapeWeights::contains(const std::string& key) const {
  return shapes_.count(key) != 0;
}

std::vector<int64_t> ShapeWeights::shape(const std::string& key) const {
  const auto it = shapes_.find(key);
  if (it == shapes_.end())
    throw WeightError(description_ + ": no tensor '" + key + "' was asked for");
  return it->second;
}

at::Tensor ShapeWeights::load(const std::string& key) const {
  return at::empty(shape(key), at::TensorOptions().dtype(at::kFloat).device(at::kMeta));
}

Weights shape_only_weights(const std::string& description, at::ScalarType dtype) {
  return Weights(std::make_shared<ShapeWeights>(description), dtype).to(at::Device(at::kMeta));
}

}  // namespace xdit::io
