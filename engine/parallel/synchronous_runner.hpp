#pragma once
// The runner of serial generation and of the exact parallel methods: every
// step runs on fresh activations. The ranks of a sequence group each take an
// equal run of the image's tokens (row-major; a run may start mid-row)
// through every block, with self-attention through Ulysses, Ring or both
// (UspAttention); cross-attention to the text is local, and an MMDiT's text
// stream is computed whole by every rank. Before the scheduler
// step the output patches are gathered over the sequence group, so that
// every rank steps the whole latent identically. Tensor parallel needs
// nothing here: it lives in the model's shard.

#include <memory>

#include "models/attention_strategy.hpp"
#include "parallel/runner.hpp"

namespace xdit::parallel {

// The run of a whole grid's tokens that sequence rank `index` of `ranks`
// holds; UsageError unless the ranks divide the tokens.
models::TokenSpan token_run(const models::PatchRows& grid, int index, int ranks);

class SynchronousRunner final : public Runner {
 public:
  // `sequence`, `ulysses`, `ring`: this rank's groups (of one when serial);
  // they must outlive the runner.
  SynchronousRunner(Group& sequence, Group& ulysses, Group& ring);

  at::Tensor denoise(const models::DiffusionTransformer& model, at::Tensor latents,
                     const models::DitInputs& inputs, const DenoiseLoop& loop) override;

  // The transformer's output [b, out_channels, h, w] for the model batch
  // `input` [b, in_channels, h, w] at `timestep` (one value), on every rank
  // of the sequence group.
  at::Tensor predict(const models::DiffusionTransformer& model, const at::Tensor& input,
                     const at::Tensor& timestep, const models::DitInputs& inputs);

 private:
  Group& sequence_;
  std::unique_ptr<models::AttentionStrategy> attention_;
};

}  // namespace xdit::parallel
