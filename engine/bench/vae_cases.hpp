#pragma once
// Benchmark cases of the VAE decoder: time and peak memory of decoding a
// 2048 x 2048 image (random 256 x 256 latents) with builtin:tiny-pixart's VAE
// shape and random weights, on whole feature maps and with convolutions
// computed in chunks of rows. The patch-parallel figure needs a process
// group; tests/parallel/parallel_vae_test.cpp measures it.

#include <cstdint>
#include <memory>
#include <vector>

#include "bench/serial_cases.hpp"
#include "models/autoencoder_kl.hpp"

namespace xdit::bench {

// The decoder of an AutoencoderKL of `config` with random weights, the norm
// scales and every bias random too (not the ones and zeros of
// io::SyntheticWeights), so that each term of the decoder's math matters.
// The same seed gives the same values in any `dtype` (float64: the reference
// against which tests measure float32's rounding).
std::unique_ptr<models::AutoencoderKL> random_vae_decoder(const models::AutoencoderKLConfig& config,
                                                          uint64_t seed,
                                                          at::ScalarType dtype = at::kFloat);

// builtin:tiny-pixart's VAE config (written to the cache on first use).
models::AutoencoderKLConfig builtin_vae_config();

// The rows per chunk of vae_decode_2048_chunked.
inline constexpr int64_t kBenchChunkRows = 64;

// vae_decode_2048, vae_decode_2048_chunked.
std::vector<BenchCase> vae_cases();

}  // namespace xdit::bench
