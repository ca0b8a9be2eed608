#include "parallel/parallel_vae.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <utility>

#include "core/error.hpp"
#include "models/attention.hpp"

namespace xdit::parallel {
namespace {

// Halo rows travel down (to the next band, as its rows above) or up.
constexpr int kTagDown = 1;
constexpr int kTagUp = 2;

}  // namespace

std::vector<int64_t> split_rows(int64_t rows, int parts, int64_t image_rows) {
  if (parts < 1 || rows < parts) {
    throw UsageError("--use_parallel_vae: the latent height of " + std::to_string(rows) +
                     " rows (image height " + std::to_string(image_rows) +
                     ") cannot be split over " + std::to_string(parts) +
                     " ranks, each of which decodes at least one latent row; use a larger "
                     "--height, fewer ranks, or no --use_parallel_vae");
  }
  std::vector<int64_t> bands(static_cast<size_t>(parts), rows / parts);
  for (int64_t i = 0; i < rows % parts; ++i)
    ++bands[static_cast<size_t>(i)];
  return bands;
}

BandSpatialOps::BandSpatialOps(Group& group, std::vector<int64_t> band_rows, int64_t chunk_rows)
    : group_(group), band_rows_(std::move(band_rows)), chunk_rows_(chunk_rows) {
  if (static_cast<int>(band_rows_.size()) != group_.size()) {
    throw UsageError("BandSpatialOps: " + std::to_string(band_rows_.size()) +
                     " bands for a group of " + std::to_string(group_.size()));
  }
}

BandSpatialOps::Halo BandSpatialOps::exchange_halo(const at::Tensor& x, int64_t halo) {
  const int64_t rows = x.size(2);
  if (rows < halo) {
    throw UsageError("--use_parallel_vae: a band of " + std::to_string(rows) +
                     " rows is thinner than the convolution's halo of " + std::to_string(halo));
  }
  const int index = group_.index();
  const auto& ranks = group_.ranks();
  Halo result;
  std::vector<PendingOp> exchange;
  // Receives are posted before the sends, both directions at once, so that
  // no member waits on a neighbour that waits on it.
  if (index > 0) {
    const int neighbour = ranks[static_cast<size_t>(index - 1)];
    result.above = at::empty({x.size(0), x.size(1), halo, x.size(3)}, x.options());
    exchange.push_back(group_.irecv(result.above, neighbour, kTagDown));
    exchange.push_back(group_.isend(x.narrow(2, 0, halo).contiguous(), neighbour, kTagUp));
  }
  if (index + 1 < group_.size()) {
    const int neighbour = ranks[static_cast<size_t>(index + 1)];
    result.below = at::empty({x.size(0), x.size(1), halo, x.size(3)}, x.options());
    exchange.push_back(group_.irecv(result.below, neighbour, kTagUp));
    exchange.push_back(
        group_.isend(x.narrow(2, rows - halo, halo).contiguous(), neighbour, kTagDown));
  }
  for (auto& op : exchange)
    op.wait();
  return result;
}

models::ChannelAffine BandSpatialOps::whole_map_norm(const at::Tensor& x,
                                                     const models::GroupNorm& layer) {
  return models::group_norm_affine(x, layer,
                                   [&](at::Tensor& sums) { group_.all_reduce_sum_(sums); });
}

at::Tensor BandSpatialOps::conv(const at::Tensor& x, const models::Conv2d& layer) {
  const int64_t halo = models::conv_row_halo(layer, "--use_parallel_vae convolution");
  const Halo rows = halo > 0 ? exchange_halo(x, halo) : Halo{};
  return models::conv_rows(x, layer, rows.above, rows.below, chunk_rows_);
}

at::Tensor BandSpatialOps::group_norm(const at::Tensor& x, const models::GroupNorm& layer) {
  const models::ChannelAffine affine = whole_map_norm(x, layer);
  return at::addcmul(affine.shift, x, affine.scale);
}

at::Tensor BandSpatialOps::norm_act_conv(at::Tensor x, const models::GroupNorm& norm,
                                         models::Activation activation, const models::Conv2d& layer,
                                         bool x_reusable) {
  const int64_t halo = models::conv_row_halo(layer, "--use_parallel_vae convolution");
  // The neighbours' rows travel raw and are normalised here like our own.
  const models::RowTransform prepare = models::norm_activation(whole_map_norm(x, norm), activation);
  const Halo rows = halo > 0 ? exchange_halo(x, halo) : Halo{};
  return models::conv_rows(x, layer, rows.above, rows.below, chunk_rows_, prepare, x_reusable);
}

at::Tensor BandSpatialOps::attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     double scale) {
  // Attention is indifferent to the order of the keys: the bands' queries
  // only need every key and value once.
  return models::attention(q, gather_bands(k, 2), gather_bands(v, 2), at::Tensor(), scale);
}

at::Tensor BandSpatialOps::gather_bands(const at::Tensor& band, int64_t dim) {
  const int64_t own_rows = band_rows_[static_cast<size_t>(group_.index())];
  if (band.size(dim) % own_rows != 0) {
    throw UsageError("BandSpatialOps: a band of " + std::to_string(band.size(dim)) + " along dim " +
                     std::to_string(dim) + " is not a multiple of its " + std::to_string(own_rows) +
                     " latent rows");
  }
  const int64_t unit = band.size(dim) / own_rows;
  const int64_t widest = *std::max_element(band_rows_.begin(), band_rows_.end());
  const at::Tensor local = band.contiguous();
  if (widest == *std::min_element(band_rows_.begin(), band_rows_.end()))
    return group_.all_gather(local, dim);
  // Uneven bands travel padded to the widest, then are trimmed.
  std::vector<int64_t> padded_shape = local.sizes().vec();
  padded_shape[static_cast<size_t>(dim)] = widest * unit;
  at::Tensor padded = at::zeros(padded_shape, local.options());
  padded.narrow(dim, 0, local.size(dim)).copy_(local);
  const std::vector<at::Tensor> gathered = group_.all_gather(padded);
  std::vector<at::Tensor> parts;
  for (size_t i = 0; i < gathered.size(); ++i)
    parts.push_back(gathered[i].narrow(dim, 0, band_rows_[i] * unit));
  return at::cat(parts, dim);
}

at::Tensor decode_in_bands(const models::AutoencoderKL& vae, const at::Tensor& z, Group& group,
                           int64_t chunk_rows) {
  if (z.dim() != 4)
    throw UsageError("decode_in_bands: latents must be [B, C, h, w], got " + c10::str(z.sizes()));
  const std::vector<int64_t> rows =
      split_rows(z.size(2), group.size(), z.size(2) * vae.config().spatial_scale());
  const auto index = static_cast<size_t>(group.index());
  const int64_t first = std::accumulate(rows.begin(), rows.begin() + index, int64_t{0});
  BandSpatialOps ops(group, rows, chunk_rows);
  const at::Tensor band = vae.decode(z.narrow(2, first, rows[index]).contiguous(), ops);
  return ops.gather_bands(band, 2);
}

}  // namespace xdit::parallel
