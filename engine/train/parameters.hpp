#pragma once
// The trainable tensors of a model built by the project's own inference
// code. A model asks its Weights view for tensors by state-dict key and keeps
// what it gets; here those tensors are leaves that require gradients, so the
// model's members are the leaves themselves: autograd reaches them, and an
// optimizer step changes the model in place.

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "io/safetensors_writer.hpp"
#include "io/weight_source.hpp"

namespace xdit::train {

class Parameters {
 public:
  // Each value copied to a float32 leaf on `device` that requires gradients.
  Parameters(const io::NamedTensors& values, at::Device device, std::string description);

  // A model's root view handing out the leaves themselves (no copy: same
  // device, same dtype).
  io::Weights weights() const;

  const io::NamedTensors& named() const { return named_; }
  std::vector<at::Tensor> tensors() const;
  // Scalars in all tensors.
  int64_t numel() const;
  // Detached copies on the CPU in `dtype`, in the order the model asked for
  // them: a checkpoint's or a model file's tensors.
  io::NamedTensors values(at::ScalarType dtype) const;

 private:
  io::NamedTensors named_;
  at::Device device_;
  std::shared_ptr<const io::TensorMapWeights> source_;
};

}  // namespace xdit::train
