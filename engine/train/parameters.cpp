#include "train/parameters.hpp"

#include <ATen/ATen.h>

#include <map>

namespace xdit::train {

Parameters::Parameters(const io::NamedTensors& values, at::Device device, std::string description)
    : device_(device) {
  std::map<std::string, at::Tensor> by_key;
  for (const auto& [key, value] : values) {
    at::Tensor leaf = value.detach().to(device, at::kFloat, /*non_blocking=*/false, /*copy=*/true);
    leaf.requires_grad_(true);
    named_.emplace_back(key, leaf);
    by_key.emplace(key, leaf);
  }
  source_ = std::make_shared<io::TensorMapWeights>(std::move(by_key), std::move(description));
}

io::Weights Parameters::weights() const {
  return io::Weights(source_, at::kFloat).to(device_);
}

std::vector<at::Tensor> Parameters::tensors() const {
  std::vector<at::Tensor> tensors;
  for (const auto& [key, tensor] : named_)
    tensors.push_back(tensor);
  return tensors;
}

int64_t Parameters::numel() const {
  int64_t count = 0;
  for (const auto& [key, tensor] : named_)
    count += tensor.numel();
  return count;
}

io::NamedTensors Parameters::values(at::ScalarType dtype) const {
  io::NamedTensors values;
  for (const auto& [key, tensor] : named_)
    values.emplace_back(key, tensor.detach().to(at::kCPU, dtype, false, true).contiguous());
  return values;
}

}  // namespace xdit::train
