#include "parallel/mesh.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.hpp"

namespace xdit::parallel {
namespace {

struct Degrees {
  int data = 1, cfg = 1, pipefusion = 1, distrifusion = 1, ulysses = 1, ring = 1, tensor = 1;
};

ParallelConfig config_of(const Degrees& d) {
  ParallelConfig c;
  c.data_degree = d.data;
  c.cfg_degree = d.cfg;
  c.pipefusion_degree = d.pipefusion;
  c.distrifusion_degree = d.distrifusion;
  c.ulysses_degree = d.ulysses;
  c.ring_degree = d.ring;
  c.tensor_degree = d.tensor;
  return c;
}

std::vector<Mesh> every_rank(const ParallelConfig& config) {
  const int world = static_cast<int>(config.product());
  std::vector<Mesh> meshes;
  for (int r = 0; r < world; ++r)
    meshes.emplace_back(config, world, r);
  return meshes;
}

// The properties every layout must have, checked on every rank.
void check_layout(const ParallelConfig& config) {
  SCOPED_TRACE(config.describe());
  const std::vector<Mesh> meshes = every_rank(config);
  const int world = static_cast<int>(meshes.size());
  for (Dim dim : kAllDims) {
    SCOPED_TRACE(std::string(dim_name(dim)));
    std::set<std::vector<int>> groups;
    std::vector<int> seen(world, 0);
    for (const Mesh& mesh : meshes) {
      const std::vector<int> group = mesh.group(dim);
      ASSERT_EQ(static_cast<int>(group.size()), mesh.degree(dim));
      ASSERT_GE(mesh.coord(dim), 0);
      ASSERT_LT(mesh.coord(dim), mesh.degree(dim));
      EXPECT_EQ(group[mesh.coord(dim)], mesh.rank());
      // Every member sees the same group and sits where its coordinate says.
      for (int i = 0; i < static_cast<int>(group.size()); ++i) {
        EXPECT_EQ(meshes[group[i]].group(dim), group);
        EXPECT_EQ(meshes[group[i]].coord(dim), i);
      }
      groups.insert(group);
    }
    // The groups of one kind partition the world.
    for (const auto& group : groups) {
      for (int r : group)
        seen[r] += 1;
    }
    for (int r = 0; r < world; ++r)
      EXPECT_EQ(seen[r], 1) << "rank " << r;
    EXPECT_EQ(static_cast<int>(groups.size()) * meshes[0].degree(dim), world);
  }
  // Coordinates round-trip through xDiT's order: tensor fastest, then
  // ulysses, ring, distrifusion, pipeline, cfg, data.
  const std::vector<Dim> order = {Dim::kTensor,   Dim::kUlysses, Dim::kRing, Dim::kDistriFusion,
                                  Dim::kPipeline, Dim::kCfg,     Dim::kData};
  for (const Mesh& mesh : meshes) {
    int rank = 0;
    int stride = 1;
    for (Dim dim : order) {
      rank += mesh.coord(dim) * stride;
      stride *= mesh.degree(dim);
    }
    EXPECT_EQ(rank, mesh.rank());
    EXPECT_EQ(mesh.coord(Dim::kSequence),
              mesh.coord(Dim::kUlysses) + mesh.degree(Dim::kUlysses) * mesh.coord(Dim::kRing));
  }
}

TEST(Mesh, LayoutPropertiesHoldOnEveryRankOfSeveralMeshes) {
  check_layout(config_of({.cfg = 2, .ulysses = 2, .ring = 2}));
  check_layout(config_of({.data = 2, .pipefusion = 2, .tensor = 2}));
  check_layout(config_of({.ulysses = 2, .ring = 2}));
  check_layout(config_of({}));
  check_layout(config_of({.data = 2, .cfg = 2, .pipefusion = 2, .ulysses = 2}));
  check_layout(config_of({.cfg = 2, .ulysses = 3, .ring = 2, .tensor = 2}));
  check_layout(config_of({.data = 3, .cfg = 2, .distrifusion = 2}));
}

TEST(Mesh, MatchesXditGroupsForDp2Cfg2Sp2Pp2) {
  // The example in xfuser's initialize_model_parallel docstring.
  const auto meshes = every_rank(config_of({.data = 2, .cfg = 2, .pipefusion = 2, .ulysses = 2}));
  EXPECT_EQ(meshes[0].group(Dim::kData), (std::vector<int>{0, 8}));
  EXPECT_EQ(meshes[7].group(Dim::kData), (std::vector<int>{7, 15}));
  EXPECT_EQ(meshes[3].group(Dim::kCfg), (std::vector<int>{3, 7}));
  EXPECT_EQ(meshes[9].group(Dim::kCfg), (std::vector<int>{9, 13}));
  EXPECT_EQ(meshes[14].group(Dim::kSequence), (std::vector<int>{14, 15}));
  EXPECT_EQ(meshes[4].group(Dim::kPipeline), (std::vector<int>{4, 6}));
  EXPECT_EQ(meshes[13].group(Dim::kPipeline), (std::vector<int>{13, 15}));
}

TEST(Mesh, UlyssesIsContiguousAndRingStridedInsideASequenceGroup) {
  // yunchang's Ulysses-low split, which xDiT uses.
  const auto meshes = every_rank(config_of({.cfg = 2, .ulysses = 2, .ring = 2}));
  EXPECT_EQ(meshes[0].group(Dim::kUlysses), (std::vector<int>{0, 1}));
  EXPECT_EQ(meshes[2].group(Dim::kUlysses), (std::vector<int>{2, 3}));
  EXPECT_EQ(meshes[1].group(Dim::kRing), (std::vector<int>{1, 3}));
  EXPECT_EQ(meshes[5].group(Dim::kRing), (std::vector<int>{5, 7}));
  EXPECT_EQ(meshes[6].group(Dim::kSequence), (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(meshes[5].group(Dim::kCfg), (std::vector<int>{1, 5}));
  EXPECT_EQ(meshes[6].coord(Dim::kUlysses), 0);
  EXPECT_EQ(meshes[6].coord(Dim::kRing), 1);
  EXPECT_EQ(meshes[6].coord(Dim::kCfg), 1);

  // With 3 Ulysses ranks the ring stride is 3.
  const auto wide = every_rank(config_of({.ulysses = 3, .ring = 2}));
  EXPECT_EQ(wide[4].group(Dim::kUlysses), (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(wide[4].group(Dim::kRing), (std::vector<int>{1, 4}));
}

TEST(Mesh, TensorVariesFastest) {
  const auto meshes = every_rank(config_of({.data = 2, .pipefusion = 2, .tensor = 2}));
  EXPECT_EQ(meshes[5].group(Dim::kTensor), (std::vector<int>{4, 5}));
  EXPECT_EQ(meshes[5].group(Dim::kPipeline), (std::vector<int>{5, 7}));
  EXPECT_EQ(meshes[5].group(Dim::kData), (std::vector<int>{1, 5}));
  EXPECT_EQ(meshes[5].coord(Dim::kTensor), 1);
  EXPECT_EQ(meshes[5].coord(Dim::kPipeline), 0);
  EXPECT_EQ(meshes[5].coord(Dim::kData), 1);
}

TEST(Mesh, PipelineNeighboursFormARing) {
  const auto meshes = every_rank(config_of({.pipefusion = 4}));
  EXPECT_EQ(meshes[0].pipeline_prev_rank(), 3);
  EXPECT_EQ(meshes[0].pipeline_next_rank(), 1);
  EXPECT_EQ(meshes[3].pipeline_next_rank(), 0);
  EXPECT_TRUE(meshes[0].is_first_stage());
  EXPECT_TRUE(meshes[3].is_last_stage());
  EXPECT_FALSE(meshes[1].is_first_stage() || meshes[1].is_last_stage());

  const auto hybrid = every_rank(config_of({.data = 2, .pipefusion = 2, .tensor = 2}));
  EXPECT_EQ(hybrid[4].pipeline_next_rank(), 6);
  EXPECT_EQ(hybrid[6].pipeline_next_rank(), 4);
  EXPECT_EQ(hybrid[7].pipeline_prev_rank(), 5);

  const Mesh single(config_of({}), 1, 0);
  EXPECT_EQ(single.pipeline_next_rank(), 0);
  EXPECT_TRUE(single.is_first_stage() && single.is_last_stage());
}

TEST(Mesh, SingleProcessHasOneMemberGroups) {
  const Mesh mesh(config_of({}), 1, 0);
  for (Dim dim : kAllDims) {
    EXPECT_EQ(mesh.group(dim), std::vector<int>{0});
    EXPECT_EQ(mesh.coord(dim), 0);
    EXPECT_EQ(mesh.degree(dim), 1);
  }
}

TEST(Mesh, RefusesARankOutsideTheWorldOrDegreesThatDoNotFit) {
  EXPECT_THROW(Mesh(config_of({.ulysses = 2}), 2, 2), UsageError);
  EXPECT_THROW(Mesh(config_of({.ulysses = 2}), 2, -1), UsageError);
  EXPECT_THROW(Mesh(config_of({.ulysses = 2}), 4, 0), UsageError);
  EXPECT_THROW(Mesh(config_of({.ring = 0}), 1, 0), UsageError);
}

}  // namespace
}  // namespace xdit::parallel
