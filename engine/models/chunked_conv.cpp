#include "models/chunked_conv.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace xdit::models {
namespace {

void check_halo(const at::Tensor& x, const at::Tensor& given, int64_t halo, const char* side) {
  if (!given.defined())
    return;
  if (given.dim() != 4 || given.size(0) != x.size(0) || given.size(1) != x.size(1) ||
      given.size(2) != halo || given.size(3) != x.size(3)) {
    throw UsageError(std::string("conv_rows: the rows ") + side + " must be [B, C, " +
                     std::to_string(halo) + ", W] for x " + c10::str(x.sizes()) + ", got " +
                     c10::str(given.sizes()));
  }
}

}  // namespace

int64_t conv_row_halo(const Conv2d& layer, const char* who) {
  const int64_t kernel = layer.weight.size(2);
  if (layer.weight.size(3) != kernel || kernel % 2 == 0 || layer.stride != 1 ||
      layer.padding != (kernel - 1) / 2) {
    throw UsageError(std::string(who) + ": only square odd kernels with stride 1 and 'same' " +
                     "padding can be computed by rows; got kernel " +
                     c10::str(layer.weight.sizes().slice(2)) + ", stride " +
                     std::to_string(layer.stride) + ", padding " + std::to_string(layer.padding));
  }
  return (kernel - 1) / 2;
}

ChannelAffine group_norm_affine(const at::Tensor& x, const GroupNorm& layer,
                                const std::function<void(at::Tensor& sums)>& combine) {
  const int64_t batch = x.size(0);
  const int64_t channels = x.size(1);
  const at::Tensor grouped = x.reshape({batch, layer.groups, -1});
  // Mean and variance accurate in float32 (no full-size temporary), turned
  // into sums in float64, where merging bands loses nothing.
  const auto [part_var, part_mean] =
      at::var_mean(grouped, at::IntArrayRef{2}, /*unbiased=*/false, /*keepdim=*/false);
  const auto count = static_cast<double>(grouped.size(2));
  const at::Tensor mean64 = part_mean.to(at::kDouble);
  at::Tensor sums = at::stack({at::full_like(mean64, count), mean64 * count,
                               (part_var.to(at::kDouble) + mean64.square()) * count});
  if (combine)
    combine(sums);
  const at::Tensor mean = sums[1] / sums[0];
  const at::Tensor var = (sums[2] / sums[0] - mean.square()).clamp_min(0);
  // As ATen's kernel: y = x * (rstd * weight) + (bias - mean * rstd * weight).
  const int64_t per_group = channels / layer.groups;
  const at::Tensor scale =
      (var + layer.eps).rsqrt().repeat_interleave(per_group, 1) * layer.weight.to(at::kDouble);
  const at::Tensor shift =
      layer.bias.to(at::kDouble) - mean.repeat_interleave(per_group, 1) * scale;
  return {scale.to(x.scalar_type()).view({batch, channels, 1, 1}),
          shift.to(x.scalar_type()).view({batch, channels, 1, 1})};
}

RowTransform norm_activation(ChannelAffine affine, Activation activation) {
  return [affine = std::move(affine), activation](at::Tensor& rows) {
    rows.mul_(affine.scale).add_(affine.shift);
    activate_in_place(rows, activation);
  };
}

at::Tensor conv_rows(const at::Tensor& x, const Conv2d& layer, const at::Tensor& above,
                     const at::Tensor& below, int64_t chunk_rows, const RowTransform& prepare,
                     bool overwrite_x) {
  const int64_t halo = conv_row_halo(layer, "conv_rows");
  check_halo(x, above, halo, "above");
  check_halo(x, below, halo, "below");
  const int64_t rows = x.size(2);
  const int64_t chunk = chunk_rows > 0 ? std::min(chunk_rows, rows) : rows;
  const bool in_place = overwrite_x && chunk < rows && layer.weight.size(0) == x.size(1);
  const std::array<int64_t, 2> stride{1, 1};
  const std::array<int64_t, 2> padding{0, halo};
  const auto zeros = [&](int64_t count) {
    return at::zeros({x.size(0), x.size(1), count, x.size(3)}, x.options());
  };

  at::Tensor out;
  // In place: the input rows just above the chunk (at most halo), as they
  // were before the chunks above overwrote them.
  at::Tensor before = x.narrow(2, 0, 0);
  for (int64_t first = 0; first < rows; first += chunk) {
    const int64_t count = std::min(chunk, rows - first);
    // Output row r reads input rows [r - halo, r + halo]; only the columns
    // are padded by the convolution itself.
    const int64_t lo = first - halo;
    const int64_t hi = first + count + halo;
    const int64_t zero_top = lo < 0 && !above.defined() ? -lo : 0;
    const int64_t zero_bottom = hi > rows && !below.defined() ? hi - rows : 0;
    std::vector<at::Tensor> parts;
    if (lo < 0)
      parts.push_back(zero_top > 0 ? zeros(zero_top) : above.narrow(2, halo + lo, -lo));
    const int64_t x_lo = std::max<int64_t>(lo, 0);
    const int64_t x_hi = std::min(hi, rows);
    const int64_t from = in_place ? std::max(x_lo, first) : x_lo;
    if (from > x_lo)
      parts.push_back(before.narrow(2, before.size(2) - (from - x_lo), from - x_lo));
    parts.push_back(x.narrow(2, from, x_hi - from));
    if (hi > rows)
      parts.push_back(zero_bottom > 0 ? zeros(zero_bottom) : below.narrow(2, 0, hi - rows));
    // One copy of the rows at most: the concatenation, or the clone that
    // `prepare` works on.
    at::Tensor tile = parts.size() == 1 ? parts.front() : at::cat(parts, 2);
    if (prepare) {
      if (parts.size() == 1)
        tile = tile.clone(at::MemoryFormat::Contiguous);
      prepare(tile);
      // The padding is zeros after `prepare`, as around the prepared map.
      if (zero_top > 0)
        tile.narrow(2, 0, zero_top).zero_();
      if (zero_bottom > 0)
        tile.narrow(2, tile.size(2) - zero_bottom, zero_bottom).zero_();
    }
    const at::Tensor part = at::conv2d(tile, layer.weight, layer.bias, stride, padding);
    tile.reset();
    parts.clear();
    if (count == rows)
      return part;
    if (in_place) {
      const int64_t keep = std::min(halo, first + count);
      const at::Tensor tail =
          count >= keep ? x.narrow(2, first + count - keep, keep)
                        : at::cat({before.narrow(2, before.size(2) - (keep - count), keep - count),
                                   x.narrow(2, first, count)},
                                  2);
      before = tail.clone();
      x.narrow(2, first, count).copy_(part);
      continue;
    }
    if (!out.defined())
      out = at::empty({x.size(0), part.size(1), rows, x.size(3)}, part.options());
    out.narrow(2, first, count).copy_(part);
  }
  return in_place ? x : out;
}

int64_t automatic_chunk_rows(int64_t height, int64_t width) {
  return height * width > int64_t{1024} * 1024 ? kAutoChunkRows : 0;
}

ChunkedSpatialOps::ChunkedSpatialOps(int64_t chunk_rows) : chunk_rows_(chunk_rows) {
  if (chunk_rows < 1) {
    throw UsageError("chunked VAE decoding needs at least 1 row per chunk, got " +
                     std::to_string(chunk_rows));
  }
}

at::Tensor ChunkedSpatialOps::conv(const at::Tensor& x, const Conv2d& layer) {
  return conv_rows(x, layer, {}, {}, chunk_rows_);
}

at::Tensor ChunkedSpatialOps::norm_act_conv(at::Tensor x, const GroupNorm& norm,
                                            Activation activation, const Conv2d& layer,
                                            bool x_reusable) {
  return conv_rows(x, layer, {}, {}, chunk_rows_,
                   norm_activation(group_norm_affine(x, norm), activation), x_reusable);
}

}  // namespace xdit::models
