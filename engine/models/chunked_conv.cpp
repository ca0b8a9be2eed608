#include "models/chunked_conv.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace xdit::models {
namespace {

// Rows [start, start + length) of the column that stacks `above`, `x` and
// `below`: a view of x when the range lies inside it, else a copy of just
// those rows.
at::Tensor stacked_rows(const at::Tensor& x, const at::Tensor& above, const at::Tensor& below,
                        int64_t halo, int64_t start, int64_t length) {
  std::vector<at::Tensor> parts;
  const auto take = [&](const at::Tensor& t, int64_t offset) {
    const int64_t lo = std::max(start, offset);
    const int64_t hi = std::min(start + length, offset + t.size(2));
    if (hi > lo)
      parts.push_back(t.narrow(2, lo - offset, hi - lo));
  };
  if (halo > 0)
    take(above, 0);
  take(x, halo);
  if (halo > 0)
    take(below, halo + x.size(2));
  return parts.size() == 1 ? parts.front() : at::cat(parts, 2);
}

// The rows beyond one side of x: `given`, checked, or zeros at the border.
at::Tensor halo_rows(const at::Tensor& x, const at::Tensor& given, int64_t halo, const char* side) {
  if (halo == 0)
    return {};
  if (!given.defined())
    return at::zeros({x.size(0), x.size(1), halo, x.size(3)}, x.options());
  if (given.dim() != 4 || given.size(0) != x.size(0) || given.size(1) != x.size(1) ||
      given.size(2) != halo || given.size(3) != x.size(3)) {
    throw UsageError(std::string("conv_rows: the rows ") + side + " must be [B, C, " +
                     std::to_string(halo) + ", W] for x " + c10::str(x.sizes()) + ", got " +
                     c10::str(given.sizes()));
  }
  return given;
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

at::Tensor conv_rows(const at::Tensor& x, const Conv2d& layer, const at::Tensor& above,
                     const at::Tensor& below, int64_t chunk_rows) {
  const int64_t halo = conv_row_halo(layer, "conv_rows");
  const at::Tensor top = halo_rows(x, above, halo, "above");
  const at::Tensor bottom = halo_rows(x, below, halo, "below");
  const int64_t rows = x.size(2);
  const int64_t chunk = chunk_rows > 0 ? std::min(chunk_rows, rows) : rows;
  const std::array<int64_t, 2> stride{1, 1};
  const std::array<int64_t, 2> padding{0, halo};
  at::Tensor out;
  for (int64_t first = 0; first < rows; first += chunk) {
    const int64_t count = std::min(chunk, rows - first);
    // Output row r reads stacked rows [r, r + 2 * halo): rows carry their
    // vertical padding already, only the columns are padded here.
    const at::Tensor part = at::conv2d(stacked_rows(x, top, bottom, halo, first, count + 2 * halo),
                                       layer.weight, layer.bias, stride, padding);
    if (count == rows)
      return part;
    if (!out.defined())
      out = at::empty({x.size(0), part.size(1), rows, x.size(3)}, part.options());
    out.narrow(2, first, count).copy_(part);
  }
  return out;
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

}  // namespace xdit::models
