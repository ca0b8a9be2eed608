#include "parallel/parallel_config.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace xdit::parallel {
namespace {

// PixArt-α-like: 16 heads, 28 layers, 1024 px → 64 × 64 patches.
ModelFacts pixart() {
  ModelFacts facts;
  facts.num_attention_heads = 16;
  facts.ffn_inner_dim = 4608;
  facts.num_layers = 28;
  facts.latent_rows = 64;
  facts.latent_cols = 64;
  facts.batch = 2;
  facts.guidance = true;
  return facts;
}

// The refusal message, or "" when the combination is accepted.
std::string refusal(const ParallelConfig& config, int world_size, const ModelFacts& facts) {
  try {
    validate(config, world_size, facts);
    return "";
  } catch (const UsageError& e) {
    return e.what();
  }
}

void expect_refused(const ParallelConfig& config, int world, const ModelFacts& facts,
                    const std::vector<std::string>& parts) {
  const std::string message = refusal(config, world, facts);
  ASSERT_FALSE(message.empty()) << "accepted: " << config.describe();
  for (const auto& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

TEST(ParallelConfig, AcceptsTheExactMethodsAndTheirProducts) {
  const ModelFacts facts = pixart();
  ParallelConfig c;
  EXPECT_EQ(refusal(c, 1, facts), "");
  c.cfg_degree = 2;
  c.ulysses_degree = 2;
  EXPECT_EQ(refusal(c, 4, facts), "");
  c = {};
  c.ulysses_degree = 2;
  c.ring_degree = 2;
  c.tensor_degree = 2;
  c.data_degree = 2;
  EXPECT_EQ(refusal(c, 16, facts), "");
  c = {};
  c.pipefusion_degree = 2;
  c.num_pipeline_patch = 8;
  c.attn_layer_num_for_pp = {10, 18};
  EXPECT_EQ(refusal(c, 2, facts), "");
  c = {};
  c.distrifusion_degree = 2;
  c.cfg_degree = 2;
  EXPECT_EQ(refusal(c, 4, facts), "");
}

TEST(ParallelConfig, DescribesTheDegreesInMeshOrder) {
  ParallelConfig c;
  c.cfg_degree = 2;
  c.ulysses_degree = 2;
  EXPECT_EQ(c.describe(), "data 1 × cfg 2 × pipefusion 1 × ulysses 2 × ring 1 × tensor 1");
  EXPECT_EQ(c.product(), 4);
  c.distrifusion_degree = 2;
  EXPECT_NE(c.describe().find("distrifusion 2"), std::string::npos);
}

TEST(ParallelConfig, RefusesAProductOtherThanTheWorldSize) {
  ParallelConfig c;
  c.cfg_degree = 2;
  c.ulysses_degree = 2;
  expect_refused(c, 2, pixart(),
                 {"data 1 × cfg 2 × pipefusion 1 × ulysses 2 × ring 1 × tensor 1 = 4",
                  "but 2 processes", "use --nproc 4 or lower a degree"});
  expect_refused(c, 8, pixart(), {"= 4, but 8 processes", "--nproc 4 or raise a degree"});
}

TEST(ParallelConfig, RefusesDegreesBelowOne) {
  ParallelConfig c;
  c.ring_degree = 0;
  expect_refused(c, 1, pixart(), {"ring degree 0 is invalid", "--ring_degree"});
  c = {};
  c.data_degree = -2;
  expect_refused(c, 1, pixart(), {"data degree -2", "--data_parallel_degree"});
  c = {};
  c.distrifusion_degree = 0;
  expect_refused(c, 1, pixart(), {"distrifusion degree 0", "--distrifusion_degree"});
}

TEST(ParallelConfig, RefusesCfgOtherThanOneOrTwoAndCfgWithoutGuidance) {
  ParallelConfig c;
  c.cfg_degree = 3;
  expect_refused(c, 3, pixart(), {"cfg degree 3 is invalid", "1 or 2"});
  c.cfg_degree = 2;
  ModelFacts no_guidance = pixart();
  no_guidance.guidance = false;
  expect_refused(c, 2, no_guidance,
                 {"needs classifier-free guidance", "--guidance_scale", "--use_cfg_parallel"});
  ModelFacts flux = no_guidance;
  flux.single_branch = true;
  expect_refused(c, 2, flux, {"two guidance branches", "runs one", "--use_cfg_parallel"});
}

TEST(ParallelConfig, RefusesUlyssesNotDividingTheHeads) {
  ModelFacts facts = pixart();
  facts.num_attention_heads = 6;
  ParallelConfig c;
  c.ulysses_degree = 4;
  expect_refused(c, 4, facts,
                 {"ulysses degree 4 does not divide the 6 attention heads", "among 1, 2, 3, 6",
                  "--ring_degree"});
  // Tensor parallel shards the heads first: 6 / 2 = 3 left for Ulysses.
  c.ulysses_degree = 2;
  c.tensor_degree = 2;
  expect_refused(c, 4, facts, {"3 attention heads each tensor rank holds", "among 1, 3"});
}

TEST(ParallelConfig, RefusesTensorNotDividingHeadsOrFeedForward) {
  ModelFacts facts = pixart();
  ParallelConfig c;
  c.tensor_degree = 3;
  expect_refused(c, 3, facts,
                 {"tensor degree 3 does not divide the 16 attention heads", "1, 2, 4, 8, 16"});
  facts.num_attention_heads = 12;
  facts.ffn_inner_dim = 1000;
  expect_refused(c, 3, facts, {"does not divide the feed-forward width 1000"});
}

TEST(ParallelConfig, RefusesASequenceThatDoesNotSplitEvenly) {
  ModelFacts facts = pixart();
  facts.num_attention_heads = 6;
  facts.latent_rows = 5;
  facts.latent_cols = 7;
  ParallelConfig c;
  c.ulysses_degree = 3;
  expect_refused(c, 3, facts,
                 {"35 image tokens (5 × 7 patches)", "ulysses 3 × ring 1 = 3", "divide 35"});
  c.ulysses_degree = 1;
  c.ring_degree = 2;
  expect_refused(c, 2, facts, {"ring 2 = 2 sequence ranks"});
}

TEST(ParallelConfig, RefusesPipelinesThatDoNotFitTheModelOrImage) {
  ModelFacts facts = pixart();
  facts.num_layers = 2;
  ParallelConfig c;
  c.pipefusion_degree = 4;
  expect_refused(c, 4, facts, {"pipefusion degree 4 exceeds the 2 transformer layers"});

  facts = pixart();
  c.pipefusion_degree = 4;
  c.num_pipeline_patch = 2;
  expect_refused(c, 4, facts, {"--num_pipeline_patch 2 is fewer than the 4 pipefusion stages"});
  c.num_pipeline_patch = 65;
  expect_refused(c, 4, facts, {"exceeds the 64 latent rows"});

  c = {};
  c.num_pipeline_patch = 4;
  expect_refused(c, 1, facts, {"--num_pipeline_patch 4 applies to PipeFusion"});
  c = {};
  c.attn_layer_num_for_pp = {14, 14};
  expect_refused(c, 1, facts, {"--attn_layer_num_for_pp applies to PipeFusion"});
  c.pipefusion_degree = 2;
  c.attn_layer_num_for_pp = {10, 10, 8};
  expect_refused(c, 2, facts, {"lists 3 stages", "pipefusion degree is 2"});
  c.attn_layer_num_for_pp = {28, 0};
  expect_refused(c, 2, facts, {"a stage with 0 layers"});
  c.attn_layer_num_for_pp = {10, 10};
  expect_refused(c, 2, facts, {"adds up to 20 layers", "has 28"});
  c.attn_layer_num_for_pp = {};
  c.warmup_steps = -1;
  expect_refused(c, 2, facts, {"--warmup_steps -1"});
}

TEST(ParallelConfig, AcceptsPipeFusionWithCfgDataUlyssesAndTensor) {
  const ModelFacts facts = pixart();
  ParallelConfig c;
  c.pipefusion_degree = 2;
  c.cfg_degree = 2;
  EXPECT_EQ(refusal(c, 4, facts), "");
  c.cfg_degree = 1;
  c.data_degree = 2;
  EXPECT_EQ(refusal(c, 4, facts), "");
  c.data_degree = 1;
  c.ulysses_degree = 2;
  c.num_pipeline_patch = 4;
  EXPECT_EQ(refusal(c, 4, facts), "");
  c.ulysses_degree = 1;
  c.tensor_degree = 2;
  EXPECT_EQ(refusal(c, 4, facts), "");
  // Uneven layers and patches: 28 = 5 + 23; 64 rows in 3 bands of 22, 21, 21.
  c = {};
  c.pipefusion_degree = 2;
  c.attn_layer_num_for_pp = {5, 23};
  c.num_pipeline_patch = 3;
  EXPECT_EQ(refusal(c, 2, facts), "");
  c.warmup_steps = 0;
  EXPECT_EQ(refusal(c, 2, facts), "");
}

TEST(ParallelConfig, RefusesPipeFusionWithRingOrPatchesThatDoNotFit) {
  ModelFacts facts = pixart();
  ParallelConfig c;
  c.pipefusion_degree = 2;
  c.ring_degree = 2;
  expect_refused(c, 4, facts,
                 {"pipefusion does not combine with ring attention", "--ring_degree 1"});
  // One patch per stage by default: 4 stages need 4 rows.
  c = {};
  c.pipefusion_degree = 4;
  facts.latent_rows = 2;
  expect_refused(c, 4, facts, {"--num_pipeline_patch 4 exceeds the 2 latent rows"});
  // 8 rows × 3 columns in bands of 3, 3 and 2 rows: 9 tokens do not split
  // over two Ulysses ranks.
  facts.latent_rows = 8;
  facts.latent_cols = 3;
  c.pipefusion_degree = 2;
  c.ulysses_degree = 2;
  c.num_pipeline_patch = 3;
  expect_refused(
      c, 4, facts,
      {"pipeline patch of 3 latent rows (9 tokens)", "ulysses 2", "--num_pipeline_patch"});
  c.num_pipeline_patch = 4;
  EXPECT_EQ(refusal(c, 4, facts), "");
}

TEST(ParallelConfig, RefusesADataDegreeThatDoesNotDivideTheBatch) {
  ModelFacts facts = pixart();
  facts.batch = 3;
  ParallelConfig c;
  c.data_degree = 2;
  expect_refused(c, 2, facts, {"data degree 2 does not divide the batch of 3 images", "1, 3"});
}

TEST(ParallelConfig, RefusesDistriFusionWithModelOrSequenceSplits) {
  ModelFacts facts = pixart();
  ParallelConfig c;
  c.distrifusion_degree = 2;
  c.ulysses_degree = 2;
  expect_refused(c, 4, facts,
                 {"distrifusion degree 2 combines only with cfg and data parallel",
                  "not with ulysses 2", "--ulysses_degree"});
  c.ulysses_degree = 1;
  c.distrifusion_degree = 4;
  facts.latent_rows = 6;
  expect_refused(
      c, 4, facts,
      {"distrifusion degree 4 does not divide the 6 latent rows", "--distrifusion_degree"});
}

}  // namespace
}  // namespace xdit::parallel
