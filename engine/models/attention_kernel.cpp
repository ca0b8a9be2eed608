#include "models/attention_kernel.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

// ISO C++ mode forbids contracting a * b + c into one FMA instruction; every
// inner loop here is written for FMA.
#if defined(__clang__)
#pragma clang fp contract(fast)
#else
#pragma GCC optimize("fp-contract=fast")
// The helpers pass wide vectors by value, whose ABI differs between targets;
// they are all inlined into one function per target, so no call uses it.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace xdit::models {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
// The running maximum starts here rather than at -inf, so that a row whose
// keys are all masked never computes -inf - (-inf).
constexpr float kLowest = std::numeric_limits<float>::lowest();
constexpr float kSmallestSum = std::numeric_limits<float>::min();
// Query rows that share each chunk of K and V while it is in L1. Their
// queries and outputs (~300 KB at d = 72) stay in L2; measured on a 4 MB L2,
// 512 rows run ~40% faster than 16.
constexpr int64_t kMaxGroupRows = 512;
// Per-row vectors (the running sums) are kept at the widest width's stride.
constexpr int64_t kMaxLanes = 16;

template <int kLanes>
struct Simd;

template <>
struct Simd<16> {
  using Floats = float __attribute__((vector_size(64)));
  using Ints = int32_t __attribute__((vector_size(64)));
  [[gnu::always_inline]] static Floats splat(float x) {
    const Floats v = {x};
    return __builtin_shufflevector(v, v, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  }
  template <typename Op>
  [[gnu::always_inline]] static float reduce(const Floats& value, Op op) {
    Floats v = value;
    v = op(v, __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
    v = op(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
    v = op(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
    v = op(v, __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
    return v[0];
  }
  static constexpr Ints kLaneIndex = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
};

template <>
struct Simd<8> {
  using Floats = float __attribute__((vector_size(32)));
  using Ints = int32_t __attribute__((vector_size(32)));
  [[gnu::always_inline]] static Floats splat(float x) {
    const Floats v = {x};
    return __builtin_shufflevector(v, v, 0, 0, 0, 0, 0, 0, 0, 0);
  }
  template <typename Op>
  [[gnu::always_inline]] static float reduce(const Floats& value, Op op) {
    Floats v = value;
    v = op(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3));
    v = op(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5));
    v = op(v, __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6));
    return v[0];
  }
  static constexpr Ints kLaneIndex = {0, 1, 2, 3, 4, 5, 6, 7};
};

template <>
struct Simd<4> {
  using Floats = float __attribute__((vector_size(16)));
  using Ints = int32_t __attribute__((vector_size(16)));
  [[gnu::always_inline]] static Floats splat(float x) {
    const Floats v = {x};
    return __builtin_shufflevector(v, v, 0, 0, 0, 0);
  }
  template <typename Op>
  [[gnu::always_inline]] static float reduce(const Floats& value, Op op) {
    Floats v = value;
    v = op(v, __builtin_shufflevector(v, v, 2, 3, 0, 1));
    v = op(v, __builtin_shufflevector(v, v, 1, 0, 3, 2));
    return v[0];
  }
  static constexpr Ints kLaneIndex = {0, 1, 2, 3};
};

// Register tiles: kRowTile query rows x kChunk keys of scores (AVX-512 has
// 32 vector registers, the others 16), and up to kMaxValueVecs vectors of
// output columns per row when accumulating weights x V.
constexpr int kRowTile = 4;

template <int kLanes>
struct Tile {
  static constexpr int kRows = kRowTile;
  static constexpr int kChunkVecs = kLanes == 16 ? 4 : 2;
  static constexpr int64_t kChunk = kChunkVecs * kLanes;
  static constexpr int kMaxValueVecs = kLanes == 16 ? 6 : 2;
  // Column block for wider heads (d = 128 is two blocks of 4 on AVX-512).
  static constexpr int kValueBlock = kLanes == 16 ? 4 : 2;
};

// Buffer shapes for one width and problem.
struct Geometry {
  int64_t chunk = 1;       // keys per chunk
  int64_t chunks = 0;      // ceil(lk / chunk)
  int64_t value_vecs = 1;  // output vectors accumulated per pass
  int64_t padded_dv = 1;   // dv rounded up to whole passes
  int64_t group_rows = 1;  // query rows per group, a multiple of the row tile

  template <int kLanes>
  static Geometry of(int64_t lq, int64_t lk, int64_t dv) {
    using T = Tile<kLanes>;
    Geometry g;
    g.chunk = T::kChunk;
    g.chunks = (lk + g.chunk - 1) / g.chunk;
    const int64_t vecs = std::max<int64_t>((dv + kLanes - 1) / kLanes, 1);
    g.value_vecs = vecs <= T::kMaxValueVecs ? vecs : T::kValueBlock;
    g.padded_dv = (vecs + g.value_vecs - 1) / g.value_vecs * g.value_vecs * kLanes;
    g.group_rows =
        std::min(kMaxGroupRows, std::max<int64_t>((lq + kRowTile - 1) / kRowTile, 1) * kRowTile);
    return g;
  }

  static Geometry of(SimdWidth width, int64_t lq, int64_t lk, int64_t dv) {
    switch (width) {
      case SimdWidth::k16:
        return of<16>(lq, lk, dv);
      case SimdWidth::k8:
        return of<8>(lq, lk, dv);
      default:
        return of<4>(lq, lk, dv);
    }
  }

  int64_t workspace_floats(int64_t d) const {
    return chunks * chunk * (d + padded_dv) + group_rows * (d + padded_dv + 1 + kMaxLanes);
  }
};

struct MaxOp {
  template <typename V>
  [[gnu::always_inline]] V operator()(const V& a, const V& b) const {
    return a > b ? a : b;
  }
};

struct SumOp {
  template <typename V>
  [[gnu::always_inline]] V operator()(const V& a, const V& b) const {
    return a + b;
  }
};

template <int kLanes>
[[gnu::always_inline]] inline typename Simd<kLanes>::Floats load(const float* p) {
  typename Simd<kLanes>::Floats v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <int kLanes>
[[gnu::always_inline]] inline void store(float* p, const typename Simd<kLanes>::Floats& v) {
  std::memcpy(p, &v, sizeof v);
}

// exp(x) = 2^n * exp(r) with n = round(x / ln 2) and |r| <= ln(2) / 2; exp(r)
// by Cephes' degree-6 expf polynomial (relative error ~1e-7). Results below
// 2^-126 flush to 0: they are that far below a row's largest weight, 1.
template <int kLanes>
[[gnu::always_inline]] inline typename Simd<kLanes>::Floats exp_vec(
    const typename Simd<kLanes>::Floats& argument) {
  using S = Simd<kLanes>;
  using Floats = typename S::Floats;
  using Ints = typename S::Ints;
  constexpr float kMinArgument = -87.0f;
  const Ints underflow = argument < kMinArgument;
  const Floats x = underflow ? S::splat(kMinArgument) : argument;
  // Adding 1.5 * 2^23 rounds to an integer, which lands in the low mantissa bits.
  constexpr float kRound = 12582912.0f;
  const Floats shifted = x * 1.44269504088896341f + kRound;
  const Floats n = shifted - kRound;
  const Floats r = x - n * 0.693359375f - n * -2.12194440e-4f;
  Floats p = S::splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const Ints exponent = std::bit_cast<Ints>(shifted) - std::bit_cast<int32_t>(kRound) + 127;
  const Floats y = p * std::bit_cast<Floats>(exponent << 23);
  return underflow ? S::splat(0.0f) : y;
}

// out[r][0, kVecs * kLanes) = out * alpha[r] + sum over the chunk's keys c of
// weights[r][c] * values[c]; rows and value rows are `stride` floats apart.
// Once a row's maximum has settled every alpha is 1 and `rescale` false.
template <int kLanes, int kVecs>
[[gnu::always_inline]] inline void accumulate_values(const float* weights, const float* values,
                                                     int64_t stride, float* out, const float* alpha,
                                                     bool rescale) {
  using T = Tile<kLanes>;
  using Floats = typename Simd<kLanes>::Floats;
  Floats acc[T::kRows][kVecs];
  for (int r = 0; r < T::kRows; ++r) {
    for (int j = 0; j < kVecs; ++j)
      acc[r][j] = load<kLanes>(out + r * stride + j * kLanes);
  }
  if (rescale) {
    for (int r = 0; r < T::kRows; ++r) {
      for (int j = 0; j < kVecs; ++j)
        acc[r][j] *= alpha[r];
    }
  }
  for (int64_t c = 0; c < T::kChunk; ++c) {
    Floats v[kVecs];
    for (int j = 0; j < kVecs; ++j)
      v[j] = load<kLanes>(values + c * stride + j * kLanes);
    for (int r = 0; r < T::kRows; ++r) {
      const Floats w = Simd<kLanes>::splat(weights[r * T::kChunk + c]);
      for (int j = 0; j < kVecs; ++j)
        acc[r][j] += w * v[j];
    }
  }
  for (int r = 0; r < T::kRows; ++r) {
    for (int j = 0; j < kVecs; ++j)
      store<kLanes>(out + r * stride + j * kLanes, acc[r][j]);
  }
}

// accumulate_values over the padded output columns, `vecs` vectors per pass
// (a compile-time count, chosen by walking the instantiations).
template <int kLanes, int kVecs = 1>
[[gnu::always_inline]] inline void accumulate_all_values(int64_t vecs, int64_t padded_dv,
                                                         const float* weights, const float* values,
                                                         float* out, const float* alpha,
                                                         bool rescale) {
  if constexpr (kVecs <= Tile<kLanes>::kMaxValueVecs) {
    if (vecs != kVecs) {
      accumulate_all_values<kLanes, kVecs + 1>(vecs, padded_dv, weights, values, out, alpha,
                                               rescale);
      return;
    }
    for (int64_t column = 0; column < padded_dv; column += kVecs * kLanes) {
      accumulate_values<kLanes, kVecs>(weights, values + column, padded_dv, out + column, alpha,
                                       rescale);
    }
  }
}

struct Dims {
  int64_t lq, lk, d, dv;
  float scale;
};

struct Buffers {
  float* keys;
  float* values;
  float* queries;
  float* outputs;
  float* row_max;
  float* row_sum;
};

// Each row of a head view of a [B, L, H, D] projection lies on a page of its
// own, beyond the reach of the hardware prefetcher, so row-by-row copies
// wait on memory for every row unless the rows ahead are requested early.
constexpr int64_t kPrefetchRows = 16;

[[gnu::always_inline]] inline void prefetch_row(const float* row, int64_t floats) {
  for (int64_t i = 0; i < floats; i += 16)
    __builtin_prefetch(row + i);
  __builtin_prefetch(row + floats - 1);
}

template <int kLanes>
[[gnu::always_inline]] inline void pack_slice(const Dims& dims, const Geometry& geometry,
                                              const AttentionSlice& slice, const Buffers& buffers) {
  const int64_t chunk = Tile<kLanes>::kChunk;
  for (int64_t n = 0; n < dims.lk; ++n) {
    if (n + kPrefetchRows < dims.lk) {
      prefetch_row(slice.k + (n + kPrefetchRows) * slice.k_stride, dims.d);
      prefetch_row(slice.v + (n + kPrefetchRows) * slice.v_stride, dims.dv);
    }
    // Rows are read whole and scattered into K^T, whose chunk stays in L1.
    const float* key = slice.k + n * slice.k_stride;
    float* column = buffers.keys + (n / chunk) * dims.d * chunk + n % chunk;
    for (int64_t i = 0; i < dims.d; ++i)
      column[i * chunk] = key[i];
    std::memcpy(buffers.values + n * geometry.padded_dv, slice.v + n * slice.v_stride,
                static_cast<size_t>(dims.dv) * sizeof(float));
  }
}

// Scores of kRows queries against one chunk of keys, with the bias added and
// keys past lk masked.
template <int kLanes>
[[gnu::always_inline]] inline void score_tile(
    const Dims& dims, const AttentionSlice& slice, const float* queries, const float* keys,
    int64_t first_row, int64_t first_key,
    typename Simd<kLanes>::Floats (&scores)[Tile<kLanes>::kRows][Tile<kLanes>::kChunkVecs]) {
  using S = Simd<kLanes>;
  using T = Tile<kLanes>;
  using Floats = typename S::Floats;
  for (int r = 0; r < T::kRows; ++r) {
    for (int j = 0; j < T::kChunkVecs; ++j)
      scores[r][j] = S::splat(0.0f);
  }
  for (int64_t i = 0; i < dims.d; ++i) {
    Floats k[T::kChunkVecs];
    for (int j = 0; j < T::kChunkVecs; ++j)
      k[j] = load<kLanes>(keys + i * T::kChunk + j * kLanes);
    for (int r = 0; r < T::kRows; ++r) {
      const Floats q = S::splat(queries[r * dims.d + i]);
      for (int j = 0; j < T::kChunkVecs; ++j)
        scores[r][j] += q * k[j];
    }
  }
  const int64_t valid_keys = std::min<int64_t>(T::kChunk, dims.lk - first_key);
  if (slice.bias) {
    for (int r = 0; r < T::kRows && first_row + r < dims.lq; ++r) {
      const float* row = slice.bias + (first_row + r) * slice.bias_row_stride;
      for (int j = 0; j < T::kChunkVecs; ++j) {
        const int64_t key = first_key + j * kLanes;
        if (slice.bias_col_stride == 0) {
          scores[r][j] += S::splat(row[0]);
        } else if (key + kLanes <= dims.lk) {
          scores[r][j] += load<kLanes>(row + key);
        } else if (key < dims.lk) {
          Floats part = S::splat(0.0f);
          std::memcpy(&part, row + key, static_cast<size_t>(dims.lk - key) * sizeof(float));
          scores[r][j] += part;
        }
      }
    }
  }
  if (valid_keys < T::kChunk) {
    for (int j = 0; j < T::kChunkVecs; ++j) {
      const auto past_end = S::kLaneIndex + j * kLanes >= static_cast<int32_t>(valid_keys);
      for (int r = 0; r < T::kRows; ++r)
        scores[r][j] = past_end ? S::splat(-kInf) : scores[r][j];
    }
  }
}

template <int kLanes>
[[gnu::always_inline]] inline void attend_slice(const Dims& dims, const Geometry& geometry,
                                                const AttentionSlice& slice,
                                                const Buffers& buffers) {
  using S = Simd<kLanes>;
  using T = Tile<kLanes>;
  using Floats = typename S::Floats;
  pack_slice<kLanes>(dims, geometry, slice, buffers);

  for (int64_t first_row = 0; first_row < dims.lq; first_row += geometry.group_rows) {
    const int64_t rows = std::min(geometry.group_rows, dims.lq - first_row);
    const int64_t tiled_rows = (rows + T::kRows - 1) / T::kRows * T::kRows;
    for (int64_t r = 0; r < tiled_rows; ++r) {
      if (r + kPrefetchRows < rows) {
        prefetch_row(slice.q + (first_row + r + kPrefetchRows) * slice.q_stride, dims.d);
      }
      float* query = buffers.queries + r * dims.d;
      const float* source = slice.q + (first_row + r) * slice.q_stride;
      for (int64_t i = 0; i < dims.d; ++i)
        query[i] = r < rows ? source[i] * dims.scale : 0.0f;
      buffers.row_max[r] = kLowest;
      store<kLanes>(buffers.row_sum + r * kMaxLanes, S::splat(0.0f));
    }
    std::fill_n(buffers.outputs, tiled_rows * geometry.padded_dv, 0.0f);

    for (int64_t chunk = 0; chunk < geometry.chunks; ++chunk) {
      const float* keys = buffers.keys + chunk * dims.d * T::kChunk;
      const float* values = buffers.values + chunk * T::kChunk * geometry.padded_dv;
      for (int64_t tile = 0; tile < tiled_rows; tile += T::kRows) {
        Floats scores[T::kRows][T::kChunkVecs];
        score_tile<kLanes>(dims, slice, buffers.queries + tile * dims.d, keys, first_row + tile,
                           chunk * T::kChunk, scores);
        // Online softmax: weights against the running maximum, and the
        // factor that rescales what was accumulated against the old one.
        alignas(64) float weights[T::kRows * T::kChunk];
        float alpha[T::kRows];
        bool rescale = false;
        for (int r = 0; r < T::kRows; ++r) {
          Floats row_max = scores[r][0];
          for (int j = 1; j < T::kChunkVecs; ++j)
            row_max = MaxOp()(row_max, scores[r][j]);
          float& running_max = buffers.row_max[tile + r];
          const float new_max = std::max(running_max, S::reduce(row_max, MaxOp()));
          alpha[r] = new_max == running_max ? 1.0f : std::exp(running_max - new_max);
          rescale = rescale || new_max != running_max;
          running_max = new_max;
          Floats sum = S::splat(0.0f);
          for (int j = 0; j < T::kChunkVecs; ++j) {
            const Floats e = exp_vec<kLanes>(scores[r][j] - new_max);
            store<kLanes>(weights + r * T::kChunk + j * kLanes, e);
            sum += e;
          }
          // Sums stay per lane until the end: one reduction per row, not per chunk.
          float* running_sum = buffers.row_sum + (tile + r) * kMaxLanes;
          store<kLanes>(running_sum, load<kLanes>(running_sum) * alpha[r] + sum);
        }
        accumulate_all_values<kLanes>(geometry.value_vecs, geometry.padded_dv, weights, values,
                                      buffers.outputs + tile * geometry.padded_dv, alpha, rescale);
      }
    }

    for (int64_t r = 0; r < rows; ++r) {
      if (r + kPrefetchRows < rows) {
        prefetch_row(slice.out + (first_row + r + kPrefetchRows) * slice.out_stride, dims.dv);
      }
      const float sum =
          std::max(S::reduce(load<kLanes>(buffers.row_sum + r * kMaxLanes), SumOp()), kSmallestSum);
      const float inverse = 1.0f / sum;
      const float* accumulated = buffers.outputs + r * geometry.padded_dv;
      float* out = slice.out + (first_row + r) * slice.out_stride;
      for (int64_t i = 0; i < dims.dv; ++i)
        out[i] = accumulated[i] * inverse;
      slice.lse[first_row + r] = buffers.row_max[r] + std::log(sum);
    }
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define XDIT_ATTENTION_X86 1
[[gnu::target("arch=x86-64-v4")]] void attend_slice_16(const Dims& dims, const Geometry& geometry,
                                                       const AttentionSlice& slice,
                                                       const Buffers& buffers) {
  attend_slice<16>(dims, geometry, slice, buffers);
}

[[gnu::target("arch=x86-64-v3")]] void attend_slice_8(const Dims& dims, const Geometry& geometry,
                                                      const AttentionSlice& slice,
                                                      const Buffers& buffers) {
  attend_slice<8>(dims, geometry, slice, buffers);
}
#endif

void attend_slice_4(const Dims& dims, const Geometry& geometry, const AttentionSlice& slice,
                    const Buffers& buffers) {
  attend_slice<4>(dims, geometry, slice, buffers);
}

// A weight that underflows to a denormal makes every product with it take a
// microcode assist, ~100 times slower (rows whose scores spread over more
// than ~80, T5's unscaled scores for one). Such weights are below 2^-126 of
// the row's largest (1), so the kernel flushes them to zero instead.
class FlushDenormals {
 public:
#if defined(__x86_64__)
  static constexpr unsigned kFlushToZero = 0x8000;
  static constexpr unsigned kDenormalsAreZero = 0x0040;
  FlushDenormals() : saved_(_mm_getcsr()) {
    _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero);
  }
  ~FlushDenormals() {
    _mm_setcsr(saved_);
  }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  unsigned saved_;
#endif
};

SimdWidth resolve(SimdWidth width) {
  const std::vector<SimdWidth> supported = supported_simd_widths();
  if (width == SimdWidth::kAuto)
    return supported.back();
  return std::find(supported.begin(), supported.end(), width) != supported.end() ? width
                                                                                 : supported.back();
}

}  // namespace

std::vector<SimdWidth> supported_simd_widths() {
  std::vector<SimdWidth> widths{SimdWidth::k4};
#ifdef XDIT_ATTENTION_X86
  if (__builtin_cpu_supports("x86-64-v3"))
    widths.push_back(SimdWidth::k8);
  if (__builtin_cpu_supports("x86-64-v4"))
    widths.push_back(SimdWidth::k16);
#endif
  return widths;
}

AttentionKernel::AttentionKernel(int64_t lq, int64_t lk, int64_t d, int64_t dv, float scale,
                                 SimdWidth width)
    : lq_(lq), lk_(lk), d_(d), dv_(dv), scale_(scale), width_(resolve(width)) {
  const Geometry geometry = Geometry::of(width_, lq, lk, dv);
  // Zeros in the padding stay: a padded key's weight is 0, and 0 * V must
  // not meet garbage (0 * NaN).
  keys_.assign(static_cast<size_t>(geometry.chunks * geometry.chunk * d), 0.0f);
  values_.assign(static_cast<size_t>(geometry.chunks * geometry.chunk * geometry.padded_dv), 0.0f);
  queries_.assign(static_cast<size_t>(geometry.group_rows * d), 0.0f);
  outputs_.assign(static_cast<size_t>(geometry.group_rows * geometry.padded_dv), 0.0f);
  row_max_.assign(static_cast<size_t>(geometry.group_rows), 0.0f);
  row_sum_.assign(static_cast<size_t>(geometry.group_rows * kMaxLanes), 0.0f);
}

int64_t AttentionKernel::workspace_bytes(int64_t lq, int64_t lk, int64_t d, int64_t dv,
                                         SimdWidth width) {
  return Geometry::of(resolve(width), lq, lk, dv).workspace_floats(d) *
         static_cast<int64_t>(sizeof(float));
}

void AttentionKernel::run(const AttentionSlice& slice) {
  [[maybe_unused]] const FlushDenormals flush;
  const Dims dims{lq_, lk_, d_, dv_, scale_};
  const Geometry geometry = Geometry::of(width_, lq_, lk_, dv_);
  const Buffers buffers{keys_.data(),    values_.data(),  queries_.data(),
                        outputs_.data(), row_max_.data(), row_sum_.data()};
  switch (width_) {
#ifdef XDIT_ATTENTION_X86
    case SimdWidth::k16:
      attend_slice_16(dims, geometry, slice, buffers);
      return;
    case SimdWidth::k8:
      attend_slice_8(dims, geometry, slice, buffers);
      return;
#endif
    default:
      attend_slice_4(dims, geometry, slice, buffers);
  }
}

}  // namespace xdit::models
