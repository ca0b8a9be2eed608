#include "parallel/guidance.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"

namespace xdit::parallel {

Guidance::Guidance(double scale, Group& cfg) : scale_(scale), cfg_(cfg) {
  if (cfg.size() > 2) {
    throw UsageError("the cfg group has " + std::to_string(cfg.size()) +
                     " ranks; classifier-free guidance has two branches");
  }
  if (cfg.size() == 2 && !guided()) {
    throw UsageError("cfg parallel needs classifier-free guidance (a guidance scale above 1)");
  }
  if (!guided()) {
    branches_ = {Branch::kConditional};
  } else if (cfg.size() == 2) {
    branches_ = {cfg.index() == 0 ? Branch::kUnconditional : Branch::kConditional};
  } else {
    branches_ = {Branch::kUnconditional, Branch::kConditional};
  }
}

at::Tensor Guidance::model_input(const at::Tensor& latents) const {
  return branches_.size() == 2 ? at::cat({latents, latents}) : latents;
}

at::Tensor Guidance::combine(const at::Tensor& noise) const {
  if (!guided())
    return noise;
  const at::Tensor both = cfg_.size() == 2 ? cfg_.all_gather(noise, 0) : noise;
  const auto halves = both.chunk(2);
  return halves[0] + scale_ * (halves[1] - halves[0]);
}

}  // namespace xdit::parallel
