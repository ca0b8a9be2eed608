#pragma once
// Flux's rotary position embedding (diffusers v0.30.3 EmbedND and
// apply_rope): each token carries n position ids (Flux: 0, row, column), and
// each axis rotates its own slice of a head's channels, adjacent pairs by
// angle position * theta^(-2i/d).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace xdit::models {

// ids [B, S, n] (any real dtype) -> the rotation table [B, 1, S, D/2, 2, 2]
// float32 (D = sum of axes_dims, each even), computed in float64 as diffusers
// does. Throws UsageError when ids do not have one column per axis.
at::Tensor rope_table(const at::Tensor& ids, const std::vector<int64_t>& axes_dims, double theta);

// x [B, H, S, D] rotated by `table` (float32 math), in x's dtype.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& table);

}  // namespace xdit::models
