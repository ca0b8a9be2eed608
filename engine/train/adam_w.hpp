#pragma once
// AdamW (Loshchilov & Hutter) over named parameters, with its moments kept
// by name so that a checkpoint holds them beside the parameters and a
// resumed run continues exactly where it stopped.

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "io/safetensors_writer.hpp"
#include "io/weight_source.hpp"

namespace xdit::train {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  // Gradients are scaled down together when their global norm exceeds this.
  double max_grad_norm = 1.0;
};

class AdamW {
 public:
  AdamW(io::NamedTensors parameters, AdamWOptions options = {});

  void zero_grad();
  // One update at learning rate `lr` from the gradients backward() left;
  // returns the gradients' global norm before clipping.
  double step(double lr);
  int64_t steps() const { return steps_; }

  // The moments as "adam.m.<key>" and "adam.v.<key>" (CPU, float32).
  io::NamedTensors state() const;
  // Restores state() of a run that had taken `steps` updates. Throws
  // WeightError naming the key for a moment missing from `source`.
  void load_state(const io::WeightSource& source, int64_t steps);

 private:
  struct Slot {
    std::string key;
    at::Tensor parameter, m, v;
  };
  std::vector<Slot> slots_;
  AdamWOptions options_;
  int64_t steps_ = 0;
};

}  // namespace xdit::train
