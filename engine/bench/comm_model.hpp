#pragma once
// What each parallel method must send per denoising step, per rank: the cost
// model of issue 4's table made exact for a PixArt step, so that `xdit bench`
// prints the bytes a method sent next to what it has to send
// (measured / theory ≈ 1: no more traffic than the method needs).
//
// Units are those of parallel::CommStats: logical payload bytes sent by one
// rank, an all-reduce counted as 2(N-1)/N of its tensor (a ring all-reduce),
// an all-gather as the rank's own piece to each of the N-1 others, an
// all-to-all as every chunk but the one kept. Notation: p image tokens of one
// image, hs the transformer's width, L its layers, N the method's degree, B
// the model batch the method's ranks share (images × 2 with guidance), E the
// element size (4 in float32), f = (N-1)/N.

#include <cstdint>
#include <string>
#include <string_view>

#include "models/pixart_transformer.hpp"
#include "parallel/parallel_config.hpp"

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

// One denoising step of a PixArt transformer, as the cost model needs it.
struct StepShape {
  int64_t tokens = 0;  // p: image tokens of one image
  int64_t hidden = 0;  // hs: heads × head_dim
  int64_t layers = 0;  // L
  int64_t batch = 1;   // B: images of one data rank, × 2 with guidance
  int64_t images = 1;  // images of one data rank (guidance combined)
  // Values per token of the noise prediction and of the latents (patch² ×
  // in_channels), and of the output layer's patches (patch² × out_channels).
  int64_t noise_values = 0;
  int64_t output_values = 0;
  int64_t element_bytes = 4;  // E
};

// The step of `config` for a request with the model facts `facts` (its
// latent grid, images and guidance), split over `data_degree` data ranks.
StepShape pixart_step_shape(const models::PixArtConfig& config, const parallel::ModelFacts& facts,
                            int data_degree = 1, int64_t element_bytes = 4);

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
