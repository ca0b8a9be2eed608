#include "core/torch_compat.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"

namespace xdit::compat {

#if !XDIT_TORCH_AT_LEAST(2, 1)
namespace {
[[noreturn]] void no_fused_attention() {
  throw UsageError(std::string("fused attention needs LibTorch 2.1 or later, this is ") +
                   TORCH_VERSION);
}
}  // namespace
#endif

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
  no_fused_attention();
#endif
}

std::pair<at::Tensor, at::Tensor> fused_attention_with_lse(const at::Tensor& q, const at::Tensor& k,
                                                           const at::Tensor& v,
                                                           const at::Tensor& bias, double scale) {
#if XDIT_TORCH_AT_LEAST(2, 1)
  auto [out, lse, seed, offset] = at::_scaled_dot_product_efficient_attention(
      q, k, v, bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt,
      /*compute_log_sumexp=*/true, /*dropout_p=*/0.0, /*is_causal=*/false, scale);
  return {out, lse.narrow(2, 0, q.size(2))};
#else
  (void)q, (void)k, (void)v, (void)bias, (void)scale;
  no_fused_attention();
#endif
}

}  // namespace xdit::compat
