#pragma once
// What each parallel method must send per denoising step, per rank: the cost
// model of issue 4's table made exact for a step of any DiT this engine runs
// (PixArt; SD3 and Flux, whose text stream adds its own terms), so that
// `xdit bench` prints the bytes a method sent next to what it has to send
// (measured / theory ≈ 1: no more traffic than the method needs).
//
// Units are those of parallel::CommStats: logical payload bytes sent by one
// rank, an all-reduce counted as 2(N-1)/N of its tensor (a ring all-reduce),
// an all-gather as the rank's own piece to each of the N-1 others, an
// all-to-all as every chunk but the one kept. Notation: p image tokens of one
// image, hs the transformer's width, L its layers, N the method's degree, B
// the model batch the method's ranks share (images × 2 with guidance), E the
// element size (4 in float32), f = (N-1)/N; for an MMDiT, Lt the text
// stream's tokens, A the attentions per step over the image (L, plus SD3.5's
// dual ones), J those joined by the text, R and Rt the row-parallel
// projections per step of image and of text tokens, M PipeFusion's patches.

#include <cstdint>
#include <string>
#include <string_view>

#include "parallel/parallel_config.hpp"
#include "pipelines/dit_pipeline.hpp"

namespace xdit::bench {

enum class ParallelMethod {
  kSerial,
  kCfg,
  kData,
  kUlysses,
  kRing,
  kTensor,
  kPipeFusion,
  kDistriFusion
};

// "serial", "cfg", "data", "ulysses", "ring", "tensor", "pipefusion", "distrifusion".
std::string_view method_name(ParallelMethod method);

// One denoising step of a DiT, as the cost model needs it.
struct StepShape {
  int64_t tokens = 0;              // p: image tokens of one image
  int64_t hidden = 0;              // hs: heads × head_dim
  int64_t layers = 0;              // L
  int64_t text_tokens = 0;         // Lt (0: the text is only cross-attended)
  int64_t attentions = 0;          // A
  int64_t joint_attentions = 0;    // J
  int64_t image_partial_sums = 0;  // R
  int64_t text_partial_sums = 0;   // Rt
  int64_t patches = 1;             // M
  int64_t batch = 1;               // B: images of one data rank, × 2 with guidance
  int64_t images = 1;              // images of one data rank (guidance combined)
  // Values per token of the noise prediction and of the latents (patch² ×
  // in_channels), and of the output layer's patches (patch² × out_channels).
  int64_t noise_values = 0;
  int64_t output_values = 0;
  int64_t element_bytes = 4;  // E
};

// The step of a transformer with `model`'s facts for a request with the
// model facts `facts` (its latent grid, images and guidance) and
// `text_tokens` in the text stream, split over `data_degree` data ranks,
// PipeFusion (if any) in `patches` patches.
StepShape step_shape(const pipelines::TransformerFacts& model, const parallel::ModelFacts& facts,
                     int64_t text_tokens = 0, int patches = 1, int data_degree = 1,
                     int64_t element_bytes = 4);

struct CommEstimate {
  double bytes = 0;     // sent per rank per step (mean over the method's ranks)
  std::string formula;  // how it is made up, in the notation above (ASCII: "2f*B*p*hs*L*E")
};

// The bytes one rank must send per step when `method` runs alone on
// `ranks` ranks (its degree).
CommEstimate method_bytes_per_step(ParallelMethod method, const StepShape& shape, int ranks);

// Issue 4's table in the same units: its leading term of each method
// (tensor 4·p·hs·L, DistriFusion and Ring 2·p·hs·L, Ulysses (4/N)·p·hs·L,
// PipeFusion 2·p·hs) times B·E; zero for the methods it does not list.
double table_bytes_per_step(ParallelMethod method, const StepShape& shape, int ranks);

}  // namespace xdit::bench
