#include "core/torch_compat.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"

namespace xdit::compat {

bool has_fused_attention() {
  return XDIT_TORCH_AT_LEAST(2, 1);
}

at::Tensor fused_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const at::Tensor& bias, double scale) {
#if XDIT_TORCH_AT_LEAST(2, 1)
  return at::scaled_dot_product_attention(
      q, k, v, bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt,
      /*dropout_p=*/0.0, /*is_causal=*/false, scale);
#else
  (void)q, (void)k, (void)v, (void)bias, (void)scale;
  throw UsageError(std::string("fused attention needs LibTorch 2.1 or later, this is ") +
                   TORCH_VERSION);
#endif
}

}  // namespace xdit::compat
