#include "bench/timed_attention.hpp"

#include <ATen/ATen.h>

#include <chrono>

namespace xdit::bench {

models::JointOutput TimedAttention::attend(int64_t layer, const models::Qkv& image,
                                           const models::Qkv& text, models::JointOrder order,
                                           double scale) {
  const auto start = std::chrono::steady_clock::now();
  models::JointOutput out = inner_.attend(layer, image, text, order, scale);
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace xdit::bench
