#pragma once
// Classifier-free guidance around the transformer. Its two branches (the
// unconditional and the conditional prompt) run in one batch, unconditional
// rows first, or split over the two ranks of the cfg group (unconditional on
// cfg rank 0), which then exchange their noise predictions and combine them
// identically: noise = uncond + scale × (cond − uncond).

#include <ATen/core/Tensor.h>

#include <vector>

#include "parallel/group.hpp"

namespace xdit::parallel {

class Guidance {
 public:
  enum class Branch { kUnconditional, kConditional };

  // `scale` <= 1 turns guidance off. `cfg`: this rank's cfg group, of one or
  // two members; two need guidance on (UsageError otherwise). It must
  // outlive this.
  Guidance(double scale, Group& cfg);

  bool guided() const { return scale_ > 1.0; }
  // The branches this rank computes, in the order of its model batch.
  const std::vector<Branch>& branches() const { return branches_; }
  // This rank's latents [b, ...] -> its model batch [b × branches, ...].
  at::Tensor model_input(const at::Tensor& latents) const;
  // The noise predicted for this rank's model batch -> the guided noise of
  // its latents [b, ...]. Collective over the cfg group.
  at::Tensor combine(const at::Tensor& noise) const;

 private:
  double scale_;
  Group& cfg_;
  std::vector<Branch> branches_;
};

}  // namespace xdit::parallel
