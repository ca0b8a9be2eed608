#include "io/synthetic_weights.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "core/error.hpp"

namespace xdit::io {
namespace {

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// FNV-1a: a hash that is the same on every platform and run, unlike std::hash.
uint64_t stable_hash(const std::string& text) {
  uint64_t hash = 14695981039346656037ull;
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

SyntheticWeights::SyntheticWeights(uint64_t seed, std::string description)
    : seed_(seed), description_(std::move(description)) {}

void SyntheticWeights::prepare(const std::string& key, const std::vector<int64_t>& shape) const {
  if (index_.count(key) != 0) return;
  at::Tensor tensor;
  if (ends_with(key, "bias")) {
    tensor = at::zeros(shape, at::kFloat);
  } else if (shape.size() == 1 && ends_with(key, "weight")) {
    tensor = at::ones(shape, at::kFloat);
  } else {
    int64_t fan_in = 1;
    for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed_ ^ stable_hash(key));
    tensor = at::randn(shape, generator, at::TensorOptions().dtype(at::kFloat))
                 .mul_(1.0 / std::sqrt(static_cast<double>(fan_in)));
  }
  index_[key] = made_.size();
  made_.emplace_back(key, tensor);
}

std::vector<std::string> SyntheticWeights::keys() const {
  std::vector<std::string> keys;
  for (const auto& [key, tensor] : made_) keys.push_back(key);
  return keys;
}

bool SyntheticWeights::contains(const std::string& key) const { return index_.count(key) != 0; }

std::vector<int64_t> SyntheticWeights::shape(const std::string& key) const {
  return load(key).sizes().vec();
}

at::Tensor SyntheticWeights::load(const std::string& key) const {
  const auto it = index_.find(key);
  if (it == index_.end()) throw WeightError(description_ + ": no tensor '" + key + "'");
  return made_[it->second].second;
}

NamedTensors SyntheticWeights::tensors() const { return made_; }

}  // namespace xdit::io
