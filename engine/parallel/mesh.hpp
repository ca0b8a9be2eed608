#pragma once
// Where a rank sits in the process mesh, as a value: its coordinate in every
// parallel dimension and the member ranks of each of its groups. All rank
// arithmetic of the engine lives here, so that it can be checked on every rank
// without processes.
//
// Ranks are laid out as in xDiT (RankGenerator "tp-sp-pp-cfg-dp" with
// yunchang's Ulysses-low sequence split): tensor varies fastest, then Ulysses
// (contiguous inside a sequence group), then Ring (strided by the Ulysses
// degree), then DistriFusion, pipeline, cfg, and data slowest. Neighbouring
// ranks share the most traffic (tensor parallel all-reduces every layer), so
// that on a multi-GPU box they land on the fastest links.

#include <array>
#include <string_view>
#include <vector>

#include "parallel/parallel_config.hpp"

namespace xdit::parallel {

// The first seven are the mesh axes, fastest first; kSequence is the group of
// Ulysses × Ring together (USP), indexed ulysses + ulysses_degree × ring.
enum class Dim { kTensor, kUlysses, kRing, kDistriFusion, kPipeline, kCfg, kData, kSequence };

inline constexpr std::array<Dim, 8> kAllDims = {Dim::kTensor,   Dim::kUlysses,      Dim::kRing,
                                                Dim::kSequence, Dim::kDistriFusion, Dim::kPipeline,
                                                Dim::kCfg,      Dim::kData};

// "tensor", "ulysses", ..., for messages and group names.
std::string_view dim_name(Dim dim);

class Mesh {
 public:
  // Throws UsageError when the degrees do not multiply to `world_size` or
  // `rank` is outside [0, world_size).
  Mesh(const ParallelConfig& config, int world_size, int rank);

  const ParallelConfig& config() const { return config_; }
  int world_size() const { return world_size_; }
  int rank() const { return rank_; }

  int degree(Dim dim) const;
  // This rank's index in its group of `dim` (its position in group(dim)).
  int coord(Dim dim) const;
  // The global ranks of this rank's group of `dim`, ordered by coordinate.
  std::vector<int> group(Dim dim) const;

  // Pipeline neighbours in ring order: the last stage sends the updated
  // latent patch back to the first for the next step.
  int pipeline_prev_rank() const;
  int pipeline_next_rank() const;
  bool is_first_stage() const { return coord(Dim::kPipeline) == 0; }
  bool is_last_stage() const { return coord(Dim::kPipeline) == degree(Dim::kPipeline) - 1; }

 private:
  static constexpr int kAxes = 7;

  // The rank whose coordinates equal this rank's except `axis`, set to `value`.
  int with_coord(int axis, int value) const;

  ParallelConfig config_;
  int world_size_;
  int rank_;
  std::array<int, kAxes> degree_{};
  std::array<int, kAxes> stride_{};
  std::array<int, kAxes> coord_{};
};

}  // namespace xdit::parallel
