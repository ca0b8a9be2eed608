// xdit plan's pieces: the link model, the meshes it enumerates (every one a
// launch accepts), sizes from configs alone, and predictions that follow
// the cost model `xdit bench` checks.

#include "plan/planner.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <set>

#include "bench/comm_model.hpp"
#include "core/error.hpp"
#include "io/shape_weights.hpp"
#include "models/dit_loader.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"

namespace xdit::plan {
namespace {

const io::ModelFolder& folder_of(const char* name) {
  static std::map<std::string, io::ModelFolder> folders;
  auto it = folders.find(name);
  if (it == folders.end()) {
    it = folders
             .emplace(name, io::ModelFolder(pipelines::resolve_model(
                                name, std::filesystem::path(::testing::TempDir()) / "xdit-plan")))
             .first;
  }
  return it->second;
}

PlanRequest request_of(int devices) {
  PlanRequest plan;
  plan.request.prompts = {"x"};
  plan.request.height = 256;
  plan.request.width = 256;
  plan.request.use_resolution_binning = false;
  plan.devices = devices;
  plan.flops_per_second = 1e12;
  plan.link = link_preset("pcie");
  plan.dtype = at::kFloat;
  return plan;
}

TEST(LinkModel, PresetsAndGivenLinks) {
  const LinkModel pcie = link_preset("pcie");
  EXPECT_DOUBLE_EQ(pcie.seconds(20e9, 0), 1.0);
  EXPECT_DOUBLE_EQ(pcie.seconds(0, 100), 100 * 10e-6);
  EXPECT_GT(link_preset("nvlink").bandwidth, pcie.bandwidth);
  EXPECT_GT(pcie.bandwidth, link_preset("ethernet").bandwidth);
  EXPECT_THROW(link_preset("carrier pigeon"), UsageError);
  EXPECT_THROW(link_of(0, 1e-6), UsageError);
  EXPECT_DOUBLE_EQ(link_of(1e9, 0).seconds(1e9, 3), 1.0);
}

TEST(ParallelConfigFlags, AreWhatXditGenerateTakes) {
  parallel::ParallelConfig c;
  EXPECT_EQ(c.flags(), "");
  c.cfg_degree = 2;
  c.ulysses_degree = 2;
  EXPECT_EQ(c.flags(), "--use_cfg_parallel --ulysses_degree 2");
  parallel::ParallelConfig pf;
  pf.pipefusion_degree = 2;
  pf.num_pipeline_patch = 4;
  EXPECT_EQ(pf.flags(), "--pipefusion_parallel_degree 2 --num_pipeline_patch 4 --warmup_steps 1");
}

// A stage and a shard sized from shapes alone hold what the loaded model holds.
TEST(ShapeWeights, SizeAStageAndAShardAsTheirCheckpoint) {
  const io::ModelFolder& folder = folder_of("builtin:tiny-flux");
  struct NoSums final : models::PartialSums {
    void sum_(at::Tensor&) override {}
  } no_sums;
  const models::DitStage stage{1, 4, false, false};
  const models::TensorShard shard{1, 2, &no_sums};
  const io::Config config = folder.config("transformer");
  const auto real =
      models::load_dit(models::DitFamily::kFlux, config,
                       io::Weights(folder.weights("transformer"), at::kBFloat16), stage, shard);
  const auto sized =
      models::load_dit(models::DitFamily::kFlux, config,
                       io::shape_only_weights("transformer", at::kBFloat16), stage, shard);
  EXPECT_EQ(sized->parameter_bytes(), real->parameter_bytes());
  EXPECT_GT(sized->parameter_bytes(), 0);
}

TEST(Planner, EveryMeshIsOneALaunchAcceptsBestFirst) {
  const io::ModelFolder& folder = folder_of("builtin:tiny-pixart");
  const PlanRequest request = request_of(4);
  const std::vector<PlannedMesh> plans = plan_meshes(folder, request);
  ASSERT_FALSE(plans.empty());
  std::set<std::string> seen;
  for (size_t i = 0; i < plans.size(); ++i) {
    const PlannedMesh& p = plans[i];
    EXPECT_EQ(p.config.product(), 4) << p.flags;
    EXPECT_NO_THROW(
        parallel::validate(p.config, 4, pipelines::model_facts(folder, request.request)))
        << p.flags;
    EXPECT_TRUE(seen.insert(p.flags).second) << "twice: " << p.flags;
    EXPECT_GT(p.seconds_per_step, 0);
    EXPECT_GE(p.seconds_per_step, p.compute_seconds);
    if (i > 0) {
      EXPECT_LE(plans[i - 1].seconds_per_step, p.seconds_per_step);
    }
  }
  // The methods of the 4-head model that divide it: cfg × Ulysses is there,
  // tensor 4 too, Ulysses 4 is (4 heads), Ulysses 8 cannot be.
  EXPECT_TRUE(seen.count("--nproc 4 --use_cfg_parallel --ulysses_degree 2"));
  EXPECT_TRUE(seen.count("--nproc 4 --tensor_parallel_degree 4"));
  const double serial = predict_mesh(folder, request_of(1), {}).seconds_per_step;
  EXPECT_LT(plans.front().seconds_per_step, serial);
  EXPECT_NE(explain_best(plans, serial).find("fastest"), std::string::npos);
}

TEST(Planner, CommunicationFollowsTheCostModelThroughTheLink) {
  const io::ModelFolder& folder = folder_of("builtin:tiny-pixart");
  PlanRequest request = request_of(2);
  request.link = link_of(1e9, 0);  // one GB/s, no latency: seconds = bytes / 1e9
  parallel::ParallelConfig ring;
  ring.ring_degree = 2;
  const PlannedMesh planned = predict_mesh(folder, request, ring);
  const pipelines::TransformerFacts facts = pipelines::transformer_facts(folder);
  bench::StepShape shape =
      bench::step_shape(facts, pipelines::model_facts(folder, request.request), 0, 1, 1, 4);
  const double bytes = bench::method_bytes_per_step(bench::ParallelMethod::kRing, shape, 2).bytes;
  EXPECT_DOUBLE_EQ(planned.comm_seconds, bytes / 1e9);
  // Ring's K/V passing hides behind the attention it feeds, not more: what
  // hides is no longer than the attention, what does not adds.
  EXPECT_GT(planned.hidden_seconds, 0);
  EXPECT_LT(planned.hidden_seconds, planned.compute_seconds);
  EXPECT_DOUBLE_EQ(planned.seconds_per_step,
                   planned.compute_seconds + planned.comm_seconds - planned.hidden_seconds);
  // On a fast enough link all of it hides; a slower one only adds time.
  request.link = link_of(1e15, 0);
  const PlannedMesh fast = predict_mesh(folder, request, ring);
  EXPECT_DOUBLE_EQ(fast.seconds_per_step, fast.compute_seconds);
  request.link = link_of(1e6, 0);
  const PlannedMesh slow = predict_mesh(folder, request, ring);
  EXPECT_GT(slow.seconds_per_step, planned.seconds_per_step);
  EXPECT_DOUBLE_EQ(slow.hidden_seconds, planned.hidden_seconds);  // the whole attention
}

TEST(Planner, FluxMeshesHaveNoCfgAndTheirKvBuffersCost) {
  const io::ModelFolder& folder = folder_of("builtin:tiny-flux");
  const std::vector<PlannedMesh> plans = plan_meshes(folder, request_of(2));
  for (const PlannedMesh& p : plans)
    EXPECT_EQ(p.config.cfg_degree, 1) << p.flags;
  parallel::ParallelConfig ulysses;
  ulysses.ulysses_degree = 2;
  parallel::ParallelConfig distrifusion;
  distrifusion.distrifusion_degree = 2;
  const PlanRequest request = request_of(2);
  // DistriFusion keeps every layer's K/V of the whole image.
  EXPECT_GT(predict_mesh(folder, request, distrifusion).memory_per_rank_bytes,
            predict_mesh(folder, request, ulysses).memory_per_rank_bytes);
}

// The configs alone: a folder without any weights plans like the whole one.
TEST(Planner, ConfigFilesAloneSuffice) {
  const io::ModelFolder& whole = folder_of("builtin:tiny-sd3");
  const auto configs = std::filesystem::path(::testing::TempDir()) / "xdit-plan-configs-only";
  std::filesystem::remove_all(configs);
  std::filesystem::copy(whole.root(), configs, std::filesystem::copy_options::recursive);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(configs)) {
    if (entry.path().extension() == ".safetensors")
      std::filesystem::remove(entry.path());
  }
  const std::vector<PlannedMesh> from_configs =
      plan_meshes(io::ModelFolder(configs), request_of(2));
  const std::vector<PlannedMesh> from_whole = plan_meshes(whole, request_of(2));
  ASSERT_EQ(from_configs.size(), from_whole.size());
  for (size_t i = 0; i < from_whole.size(); ++i) {
    EXPECT_EQ(from_configs[i].flags, from_whole[i].flags);
    EXPECT_EQ(from_configs[i].memory_per_rank_bytes, from_whole[i].memory_per_rank_bytes);
  }
  std::filesystem::remove_all(configs);
}

TEST(Planner, MeshesThatDoNotFitComeLastAndAreSaidSo) {
  const io::ModelFolder& folder = folder_of("builtin:tiny-pixart");
  PlanRequest request = request_of(2);
  const std::vector<PlannedMesh> roomy = plan_meshes(folder, request);
  // Just under what tensor parallel needs: only the meshes that split the
  // weights fit.
  parallel::ParallelConfig tensor;
  tensor.tensor_degree = 2;
  request.device_memory_bytes =
      static_cast<double>(predict_mesh(folder, request, tensor).memory_per_rank_bytes) + 1;
  const std::vector<PlannedMesh> tight = plan_meshes(folder, request);
  ASSERT_EQ(tight.size(), roomy.size());
  bool seen_unfit = false;
  for (const PlannedMesh& p : tight) {
    if (!p.fits) {
      seen_unfit = true;
      EXPECT_NE(p.why.find("more than"), std::string::npos) << p.why;
    } else {
      EXPECT_FALSE(seen_unfit) << "a fitting mesh after one that does not fit";
    }
  }
  EXPECT_TRUE(seen_unfit);
  request.device_memory_bytes = 1;
  const std::vector<PlannedMesh> none = plan_meshes(folder, request);
  EXPECT_NE(explain_best(none, 1.0).find("No mesh fits"), std::string::npos);
  request.devices = 0;
  EXPECT_THROW(plan_meshes(folder, request), UsageError);
}

}  // namespace
}  // namespace xdit::plan
