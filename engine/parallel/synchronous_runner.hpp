#pragma once
// The runner of serial generation and of the exact parallel methods: every
// step runs on fresh activations. The ranks of a sequence group each take an
// equal run of the image's tokens (row-major; a run may start mid-row)
// through every block, with self-attention through Ulysses, Ring or both
// (UspAttention); cross-attention to the text is local. Before the scheduler
// step the output patches are gathered over the sequence group, so that
// every rank steps the whole latent identically. Tensor parallel needs
// nothing here: it lives in the model's shard.

#include <memory>

#include "models/attention_strategy.hpp"
#include "parallel/runner.hpp"

namespace xdit::parallel {

// The tokens [first, first + count) of a patch grid that one sequence rank
// holds, and the band of whole rows that covers them.
struct TokenRun {
  int64_t first = 0;
  int64_t count = 0;
  models::PatchRows rows;
};

// Rank `index` of `ranks` on `grid` (a whole grid); UsageError unless the
// ranks divide the tokens.
TokenRun token_run(const models::PatchRows& grid, int index, int ranks);

class SynchronousRunner final : public Runner {
 public:
  // `sequence`, `ulysses`, `ring`: this rank's groups (of one when serial);
  // they must outlive the runner.
  SynchronousRunner(Group& sequence, Group& ulysses, Group& ring);

  at::Tensor denoise(const models::PixArtTransformer& model, at::Tensor latents,
                     const PixArtInputs& inputs, const DenoiseLoop& loop) override;

  // The transformer's output [b, out_channels, h, w] for the model batch
  // `input` [b, in_channels, h, w] at `timestep` (one value), on every rank
  // of the sequence group.
  at::Tensor predict(const models::PixArtTransformer& model, const at::Tensor& input,
                     const at::Tensor& timestep, const PixArtInputs& inputs);

 private:
  Group& sequence_;
  std::unique_ptr<models::AttentionStrategy> attention_;
};

}  // namespace xdit::parallel
