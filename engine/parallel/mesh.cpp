#include "parallel/mesh.hpp"

#include "core/error.hpp"

namespace xdit::parallel {
namespace {

constexpr int axis_of(Dim dim) {
  return static_cast<int>(dim);
}

}  // namespace

std::string_view dim_name(Dim dim) {
  switch (dim) {
    case Dim::kTensor:
      return "tensor";
    case Dim::kUlysses:
      return "ulysses";
    case Dim::kRing:
      return "ring";
    case Dim::kDistriFusion:
      return "distrifusion";
    case Dim::kPipeline:
      return "pipeline";
    case Dim::kCfg:
      return "cfg";
    case Dim::kData:
      return "data";
    case Dim::kSequence:
      return "sequence";
  }
  return "?";
}

Mesh::Mesh(const ParallelConfig& config, int world_size, int rank)
    : config_(config), world_size_(world_size), rank_(rank) {
  check_degrees(config, world_size);
  if (rank < 0 || rank >= world_size) {
    throw UsageError("rank " + std::to_string(rank) + " is outside the group of " +
                     std::to_string(world_size) + " processes (ranks 0 to " +
                     std::to_string(world_size - 1) + ")");
  }
  degree_ = {config.tensor_degree,       config.ulysses_degree,    config.ring_degree,
             config.distrifusion_degree, config.pipefusion_degree, config.cfg_degree,
             config.data_degree};
  int stride = 1;
  for (int axis = 0; axis < kAxes; ++axis) {
    stride_[axis] = stride;
    coord_[axis] = (rank / stride) % degree_[axis];
    stride *= degree_[axis];
  }
}

int Mesh::degree(Dim dim) const {
  if (dim == Dim::kSequence)
    return degree_[axis_of(Dim::kUlysses)] * degree_[axis_of(Dim::kRing)];
  return degree_[axis_of(dim)];
}

int Mesh::coord(Dim dim) const {
  if (dim == Dim::kSequence) {
    return coord_[axis_of(Dim::kUlysses)] +
           degree_[axis_of(Dim::kUlysses)] * coord_[axis_of(Dim::kRing)];
  }
  return coord_[axis_of(dim)];
}

int Mesh::with_coord(int axis, int value) const {
  return rank_ + (value - coord_[axis]) * stride_[axis];
}

std::vector<int> Mesh::group(Dim dim) const {
  std::vector<int> ranks;
  if (dim == Dim::kSequence) {
    const int ulysses = axis_of(Dim::kUlysses);
    const int ring = axis_of(Dim::kRing);
    const int origin = with_coord(ulysses, 0) - coord_[ring] * stride_[ring];
    for (int r = 0; r < degree_[ring]; ++r) {
      for (int u = 0; u < degree_[ulysses]; ++u) {
        ranks.push_back(origin + u * stride_[ulysses] + r * stride_[ring]);
      }
    }
    return ranks;
  }
  const int axis = axis_of(dim);
  for (int i = 0; i < degree_[axis]; ++i)
    ranks.push_back(with_coord(axis, i));
  return ranks;
}

int Mesh::pipeline_prev_rank() const {
  const int axis = axis_of(Dim::kPipeline);
  return with_coord(axis, (coord_[axis] + degree_[axis] - 1) % degree_[axis]);
}

int Mesh::pipeline_next_rank() const {
  const int axis = axis_of(Dim::kPipeline);
  return with_coord(axis, (coord_[axis] + 1) % degree_[axis]);
}

}  // namespace xdit::parallel
