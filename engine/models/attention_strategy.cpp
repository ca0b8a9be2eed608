#include "models/attention_strategy.hpp"

#include "models/attention.hpp"

namespace xdit::models {

at::Tensor LocalAttention::self_attention(int64_t /*layer*/, const at::Tensor& q,
                                          const at::Tensor& k, const at::Tensor& v, double scale) {
  return attention(q, k, v, at::Tensor(), scale);
}

}  // namespace xdit::models
