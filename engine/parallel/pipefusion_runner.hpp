#pragma once
// PipeFusion (xDiT): the transformer's layers split into stages, one per rank
// of the pipeline group, and the image into M horizontal patches that flow
// through the stages one after another, so that every stage works on some
// patch at once and only a patch's activations travel between neighbours.
//
// The first `warmup_steps` steps are synchronous: the whole image goes from
// stage to stage, which fills every self-attention layer's full-sequence K/V
// buffer with fresh values. After that a patch's queries attend to keys and
// values that are fresh for the patch itself and for the patches before it
// in this step, and one step old for the others (StaleKvCache). The first
// stage embeds each patch; the last runs the output layer, the noise
// prediction and the scheduler step of that patch (each patch with its own
// SchedulerState from the first step on, so that the switch from warm-up to
// patches needs no state surgery) and sends the new latent band back to the
// first stage for the next step. Receives are posted a step ahead and sends
// are asynchronous, so that transfers overlap compute.
//
// An MMDiT's text stream travels with every patch (each patch carries its
// own copy through the stage's blocks, as the image tokens' joint-attention
// partner); in a warm-up step it is the serial run's.
//
// Within a stage the ranks of a Ulysses group share each patch's tokens: the
// all-to-all gives each the patch's whole run of tokens for its share of the
// heads, so its K/V buffer holds those heads over the whole sequence. Tensor
// parallel lives in the model's shard; cfg and data parallel are outer
// dimensions (noise() may be collective over the cfg group: the last stages
// of both branches call it for the same patches in the same order).
//
// on_step runs on every rank after each step. The latents it passes: on the
// last stage, the step's full latents as soon as its last patch is stepped;
// on the first stage (rank 0 of the group, which the previews use), the
// step's full latents once every band of it has arrived back (during the next
// step); on the stages between, an undefined tensor until the final step.
// The final latents are broadcast from the last stage, so that every rank of
// the pipeline group returns them.

#include <memory>

#include "parallel/mesh.hpp"
#include "parallel/runner.hpp"
#include "parallel/stale_kv_cache.hpp"

namespace xdit::parallel {

class PipeFusionRunner final : public Runner {
 public:
  // The groups of this rank in `mesh`; they must outlive the runner.
  // UsageError for a ring degree above 1 (the stale buffers are not split
  // over a ring).
  PipeFusionRunner(const Mesh& mesh, Group& pipeline, Group& ulysses, Group& ring);

  // `model` holds this rank's stage (pipeline_stage of the mesh's config).
  at::Tensor denoise(const models::DiffusionTransformer& model, at::Tensor latents,
                     const models::DitInputs& inputs, const DenoiseLoop& loop) override;

 private:
  const ParallelConfig config_;
  int stage_;
  int stages_;
  int prev_rank_;
  int next_rank_;
  Group& pipeline_;
  Group& ulysses_;
  StaleKvCache cache_;
  StaleKvAttention stale_;
  std::unique_ptr<models::AttentionStrategy> exchange_;  // Ulysses around stale_, if any
};

}  // namespace xdit::parallel
