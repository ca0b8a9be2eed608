#pragma once
// The benchmark cases of the serial engine: this LibTorch's GEMM rate on the
// threads given, the attention kernel against it, and steps of a
// PixArt-XL-shaped transformer with random weights. A case is a function
// from settings to a Record; parallel methods append their cases to lists of
// the same kind.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/record.hpp"
#include "models/pixart_transformer.hpp"

namespace xdit::bench {

struct BenchSettings {
  int warmup = 1;     // untimed runs before the timed ones
  int repeats = 3;    // timed runs (transformer steps); the fastest is reported
  uint64_t seed = 0;  // random weights and inputs
};

struct BenchCase {
  std::string name;
  std::string description;
  // Runs on the compute threads already set (xdit::set_compute_threads).
  std::function<Record(const BenchSettings&)> run;
};

// PixArt-XL/2's shape (diffusers' PixArtTransformer2DModel defaults) with
// `layers` blocks. No size conditioning, as in PixArt-Σ: its embeddings are
// a few small products either way. Sampled with classifier-free guidance,
// its steps take a batch of 2 and 120 prompt tokens of 4096 channels.
models::PixArtConfig pixart_xl_config(int64_t layers);
inline constexpr int64_t kPixArtCfgBatch = 2;
inline constexpr int64_t kPixArtTextTokens = 120;

// In the order they are meant to run: gemm, attention_1024, attention_4096,
// pixart_xl_256px, pixart_xl_1024px_4_layers.
std::vector<BenchCase> serial_cases();

}  // namespace xdit::bench
