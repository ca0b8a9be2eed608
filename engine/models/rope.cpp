#include "models/rope.hpp"

#include <ATen/ATen.h>

#include <numeric>

#include "core/error.hpp"

namespace xdit::models {

at::Tensor rope_table(const at::Tensor& ids, const std::vector<int64_t>& axes_dims, double theta) {
  if (ids.dim() != 3 || ids.size(2) != static_cast<int64_t>(axes_dims.size())) {
    throw UsageError("rotary positions: ids must be [batch, tokens, " +
                     std::to_string(axes_dims.size()) + "], got " + c10::str(ids.sizes()));
  }
  const auto options = ids.options().dtype(at::kDouble);
  std::vector<at::Tensor> axes;
  for (size_t axis = 0; axis < axes_dims.size(); ++axis) {
    const int64_t dim = axes_dims[axis];
    const at::Tensor omega = 1.0 / at::pow(theta, at::arange(0, dim, 2, options) / dim);
    // [B, S, dim/2]: position times frequency, then the 2 x 2 rotation
    // [[cos, -sin], [sin, cos]] of each pair.
    const at::Tensor angle =
        ids.select(2, static_cast<int64_t>(axis)).to(at::kDouble).unsqueeze(-1) * omega;
    const at::Tensor cos = angle.cos();
    const at::Tensor sin = angle.sin();
    axes.push_back(
        at::stack({cos, -sin, sin, cos}, -1).view({ids.size(0), ids.size(1), dim / 2, 2, 2}));
  }
  return at::cat(axes, -3).unsqueeze(1).to(at::kFloat);
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& table) {
  std::vector<int64_t> pairs = x.sizes().vec();
  pairs.back() /= 2;
  pairs.push_back(1);
  pairs.push_back(2);
  const at::Tensor x_pairs = x.to(at::kFloat).reshape(pairs);  // [..., D/2, 1, 2]
  // out = column 0 of each rotation times the pair's first element plus
  // column 1 times its second: (cos x0 - sin x1, sin x0 + cos x1).
  const at::Tensor t = table.to(x.device());
  const at::Tensor rotated =
      t.select(-1, 0) * x_pairs.select(-1, 0) + t.select(-1, 1) * x_pairs.select(-1, 1);
  return rotated.reshape(x.sizes()).to(x.scalar_type());
}

}  // namespace xdit::models
