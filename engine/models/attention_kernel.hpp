#pragma once
// The fused CPU kernel behind models::attention, in the manner of
// FlashAttention-2: for one (batch, head) slice it packs K and V once, then
// for each group of query rows walks the keys in small chunks, computing a
// tile of scores in registers, turning it into softmax weights against a
// running row maximum, and accumulating weights x V into the output. No score
// matrix ever exists in memory, and no pass over one is needed: a separate
// GEMM, softmax and GEMM on this machine's BLAS reach only ~60% of its large
// GEMM rate at attention's shapes (head dims of 64-128 make thin GEMMs).
//
// One source is compiled for 16 float lanes (AVX-512), 8 (AVX2 + FMA) and 4
// (any CPU: SSE2, NEON) with GCC vector extensions; the widest the CPU
// supports is chosen at run time.

#include <cstdint>
#include <vector>

namespace xdit::models {

enum class SimdWidth { kAuto = 0, k4 = 4, k8 = 8, k16 = 16 };

// The widths this CPU runs, narrowest first (k4 is always there).
std::vector<SimdWidth> supported_simd_widths();

// One slice as float32 row-major matrices (unit column stride).
struct AttentionSlice {
  const float* q = nullptr;  // [lq, d]
  int64_t q_stride = 0;
  const float* k = nullptr;  // [lk, d]
  int64_t k_stride = 0;
  const float* v = nullptr;  // [lk, dv]
  int64_t v_stride = 0;
  const float* bias = nullptr;  // [lq, lk] added to the scores, or none
  int64_t bias_row_stride = 0;  // 0: every query row shares one bias row
  int64_t bias_col_stride = 0;  // 0 (one value per row) or 1
  float* out = nullptr;         // [lq, dv]
  int64_t out_stride = 0;
  float* lse = nullptr;  // [lq], contiguous
};

// Attention for slices of one shape; holds the packing buffers, so one
// instance serves one thread.
class AttentionKernel {
 public:
  AttentionKernel(int64_t lq, int64_t lk, int64_t d, int64_t dv, float scale,
                  SimdWidth width = SimdWidth::kAuto);

  // out = softmax(q k^T * scale + bias) v; lse = log of the softmax
  // denominator. A row with every key at -inf gets out = 0 and a very
  // negative finite lse.
  void run(const AttentionSlice& slice);

  SimdWidth width() const { return width_; }
  // The size of an instance's buffers: linear in lq and lk.
  static int64_t workspace_bytes(int64_t lq, int64_t lk, int64_t d, int64_t dv,
                                 SimdWidth width = SimdWidth::kAuto);

 private:
  int64_t lq_, lk_, d_, dv_;
  float scale_;
  SimdWidth width_;
  std::vector<float> keys_;     // K^T in chunks: [chunks][d][chunk keys]
  std::vector<float> values_;   // V padded: [chunks * chunk keys][padded dv]
  std::vector<float> queries_;  // one group of scaled query rows: [group][d]
  std::vector<float> outputs_;  // their unnormalised outputs: [group][padded dv]
  std::vector<float> row_max_;  // their running maxima
  std::vector<float> row_sum_;  // and sums of weights, per vector lane: [group][16]
};

}  // namespace xdit::models
