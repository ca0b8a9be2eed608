#include "bench/timed_attention.hpp"

#include <ATen/ATen.h>

#include <chrono>

namespace xdit::bench {

at::Tensor TimedAttention::self_attention(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                          const at::Tensor& v, double scale) {
  const auto start = std::chrono::steady_clock::now();
  at::Tensor out = inner_.self_attention(layer, q, k, v, scale);
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace xdit::bench
