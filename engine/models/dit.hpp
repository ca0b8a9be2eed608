#pragma once
// The one interface the runners of engine/parallel see of a diffusion
// transformer, whatever its family (PixArt, SD3, Flux). A step of any DiT is
//   condition()   once per step: timestep, pooled text, guidance, size
//                 conditions and the text projection, shared by every block;
//   embed()       the latent pixels of a run of image tokens -> those tokens
//                 (and, for an MMDiT, the text stream the first block takes);
//   run_blocks()  the instance's blocks, in order, on the tokens a rank holds,
//                 attention through an AttentionStrategy (which may join the
//                 text tokens to the image's, models/attention_strategy.hpp);
//   output_patches() and unpatchify()  the output layer, then the patches
//                 back to latent pixels once a band of whole rows is complete.
// The blocks form one list of layers, numbered from 0 (Flux: its double-stream
// blocks, then its single-stream ones), so that a PipeFusion stage can own any
// contiguous range of them (DitStage). Tensor parallel lives inside the
// blocks (models/tensor_shard.hpp).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "models/attention_strategy.hpp"
#include "models/embeddings.hpp"

namespace xdit::models {

// A transformer's inputs besides the latent and the timestep, one row per
// sample of the model batch. Which ones a family reads is its own business;
// the runners pass them through.
struct DitInputs {
  at::Tensor text;          // [b, L, C]: the prompt encoder's hidden states
  at::Tensor text_mask;     // [b, L] 0/1 keep-mask, or undefined
  at::Tensor pooled_text;   // [b, P]: a pooled prompt vector (SD3, Flux), or undefined
  at::Tensor resolution;    // [b, 2]: size conditions (PixArt-α 1024 px), or undefined
  at::Tensor aspect_ratio;  // [b, 1], or undefined
  at::Tensor guidance;      // [b]: guidance-distilled models' scale (Flux dev), or undefined
  int64_t batch() const { return text.size(0); }
};

// The part of a model an instance holds: layers [first_layer, last_layer)
// of the list (last_layer unset: to the end), the input embedding (the first
// PipeFusion stage) and the output layer (the last). The conditioning is
// held by every part, since every block needs it.
struct DitStage {
  int64_t first_layer = 0;
  std::optional<int64_t> last_layer;
  bool embeds_input = true;
  bool owns_output = true;

  // With last_layer resolved against `num_layers`; UsageError naming `model`
  // for a range outside the list.
  DitStage resolved(int64_t num_layers, const std::string& model) const;
  // Of a resolved stage.
  bool holds(int64_t layer) const { return layer >= first_layer && layer < *last_layer; }
  bool is_whole(int64_t num_layers) const;
};

// The image tokens a rank computes: [first, first + count) of a patch grid's
// tokens in row-major order (a run may start and end mid-row).
struct TokenSpan {
  PatchRows grid;  // the whole grid
  int64_t first = 0;
  int64_t count = 0;

  static TokenSpan whole(const PatchRows& grid);
  // Every token of the band `rows` (of a whole grid).
  static TokenSpan of_rows(const PatchRows& rows);
  // The band of whole rows that covers the run: what embed() reads.
  PatchRows rows() const;
};

// The tokens between blocks: this rank's image tokens [B, span.count, dim]
// and an MMDiT's text stream [B, L, dim], which every rank of a sequence
// group holds whole (undefined for a DiT that only cross-attends to the text,
// and after a block that ends the text stream).
struct DitHidden {
  at::Tensor image;
  at::Tensor text;
};

// What a step's blocks share, made by condition(); each family keeps its own.
class DitStep {
 public:
  virtual ~DitStep() = default;
  // The samples it conditions.
  virtual int64_t batch() const = 0;
  // Tokens of the text stream in DitHidden (0 without one): what a PipeFusion
  // stage must be ready to receive with each patch.
  virtual int64_t text_tokens() const = 0;
};

// The sizes the runners and the parallel checks work with.
struct DitShape {
  int64_t patch_size = 1;       // latent pixels per token along a side
  int64_t latent_channels = 4;  // of the latent the model denoises
  int64_t out_channels = 4;     // of its output (2 × latent for a learned sigma)
  int64_t inner_dim = 0;
  int64_t heads = 1;
  int64_t num_layers = 0;  // blocks in the list
};

class DiffusionTransformer {
 public:
  virtual ~DiffusionTransformer() = default;

  virtual const DitShape& shape() const = 0;
  // The part held, with last_layer resolved.
  virtual const DitStage& stage() const = 0;
  virtual at::ScalarType dtype() const = 0;
  // Where its weights live; inputs are moved there.
  virtual at::Device device() const = 0;
  // Bytes of the tensors this instance holds (its stage and tensor shard).
  virtual int64_t parameter_bytes() const = 0;

  // The patch grid of a latent [.., latent_height, latent_width]; UsageError
  // unless both are multiples of the patch size.
  PatchRows patch_grid(int64_t latent_height, int64_t latent_width) const;

  // `timestep`: one value or one per sample, as the scheduler gives it.
  // UsageError naming the input that does not fit the model.
  virtual std::unique_ptr<DitStep> condition(const at::Tensor& timestep,
                                             const DitInputs& inputs) const = 0;
  // `latent`: [B, latent_channels, rows * p, grid_width * p], the pixels of
  // span.rows(). Needs stage().embeds_input.
  virtual DitHidden embed(const at::Tensor& latent, const TokenSpan& span,
                          const DitStep& step) const = 0;
  // The stage's blocks in order on the tokens of `span` (and the text).
  virtual DitHidden run_blocks(DitHidden hidden, const TokenSpan& span, const DitStep& step,
                               AttentionStrategy& attention) const = 0;
  // The output layer on image tokens [B, n, dim] -> patches [B, n,
  // p * p * out_channels], for any run of tokens. Needs stage().owns_output.
  virtual at::Tensor output_patches(const at::Tensor& image, const DitStep& step) const = 0;
  // Patches of the band `rows` -> [B, out_channels, rows * p, width * p].
  virtual at::Tensor unpatchify(const at::Tensor& patches, const PatchRows& rows) const = 0;

  // output_patches() then unpatchify() of the whole band `rows`.
  at::Tensor finish(const at::Tensor& image, const DitStep& step, const PatchRows& rows) const;
  // The whole model on a whole latent (the instance must hold the whole
  // model): latent [B, latent_channels, H, W] -> [B, out_channels,
  // H, W]. `attention` defaults to LocalAttention.
  at::Tensor predict(const at::Tensor& latent, const at::Tensor& timestep, const DitInputs& inputs,
                     AttentionStrategy* attention = nullptr) const;
};

}  // namespace xdit::models
