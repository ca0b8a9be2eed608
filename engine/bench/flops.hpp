#pragma once
// Floating-point operation counts of the engine's work, from shapes and
// configs alone, so that a measured time becomes a rate comparable with the
// machine's GEMM rate. A multiply-add counts as two operations; element-wise
// work (norms, activations, modulation, softmax) is not counted.

#include <cstdint>

#include "models/flux_transformer.hpp"
#include "models/pixart_transformer.hpp"
#include "models/sd3_transformer.hpp"

namespace xdit::bench {

// [m, k] x [k, n].
double matmul_flops(int64_t m, int64_t n, int64_t k);

// softmax(q k^T) v for [batch, heads] slices of lq queries and lk keys of
// head_dim: two products of 2 * lq * lk * head_dim each.
double attention_flops(int64_t batch, int64_t heads, int64_t lq, int64_t lk, int64_t head_dim);

struct StepFlops {
  double linear = 0;           // every linear layer, the patch embedding included
  double self_attention = 0;   // attention products over the image tokens
  double cross_attention = 0;  // attention products of image tokens over the prompt
  double total() const { return linear + self_attention + cross_attention; }
  double attention() const { return self_attention + cross_attention; }
};

// One forward of a PixArt transformer with config.num_layers blocks on
// `batch` latents of `image_tokens` patches each, with `text_tokens` prompt
// tokens of the config's text width.
StepFlops pixart_step_flops(const models::PixArtConfig& config, int64_t batch, int64_t image_tokens,
                            int64_t text_tokens);

// One forward of a Flux transformer on `batch` latents of `image_tokens`
// packed tokens with `text_tokens` T5 tokens: every block (double or
// single) does 12·d² multiply-adds per token of the joined sequence and
// attends over all of it (self_attention; there is no cross-attention), as
// ../shared/device/eager_dit_baseline.py counts it; plus the embeddings and
// the output layer.
StepFlops flux_step_flops(const models::FluxConfig& config, int64_t batch, int64_t image_tokens,
                          int64_t text_tokens);

// The same for SD3: joint blocks of 12·d² multiply-adds per token of both
// streams (the last block's text stream stops after its q, k, v: 3·d²),
// attention over the joined sequence, and SD3.5's dual attention (q, k, v
// and out of the image tokens, 4·d², attending over the image alone).
StepFlops sd3_step_flops(const models::SD3Config& config, int64_t batch, int64_t image_tokens,
                         int64_t text_tokens);

}  // namespace xdit::bench
