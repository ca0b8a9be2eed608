#pragma once
// The runner of DistriFusion (displaced patch parallelism): the ranks of the
// DistriFusion group each hold the whole model and own an equal band of the
// latent's token rows. Every step a rank embeds its band, runs every block
// with DistriFusionAttention (fresh K/V gathered in warm-up steps, the other
// bands' K/V from the previous step afterwards; an MMDiT's text stream is
// held whole by every rank), computes the noise of its band and steps the
// scheduler on it with its own state. Only the latent bands are gathered
// after a step, so that every rank sees the whole latent (previews, the
// result); the K/V exchanges are the method's real traffic.

#include "parallel/runner.hpp"

namespace xdit::parallel {

class DistriFusionRunner final : public Runner {
 public:
  // `group`: this rank's DistriFusion group (band i on member i), which must
  // outlive the runner. `warmup_steps`: synchronous steps first.
  DistriFusionRunner(Group& group, int warmup_steps);

  // UsageError unless the group divides the latent's token rows.
  at::Tensor denoise(const models::DiffusionTransformer& model, at::Tensor latents,
                     const models::DitInputs& inputs, const DenoiseLoop& loop) override;

 private:
  Group& group_;
  int warmup_steps_;
};

}  // namespace xdit::parallel
