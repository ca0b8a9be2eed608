#include "bench/comm_model.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace xdit::bench {
namespace {

// The bench model's step (builtin:bench-pixart at 512 px, one image with
// guidance): p = 1024 tokens, hs = 384, L = 12, B = 2, float32.
pipelines::TransformerFacts bench_pixart() {
  pipelines::TransformerFacts model;
  model.inner_dim = 384;
  model.num_layers = 12;
  model.latent_channels = 4;
  model.patch_size = 2;
  model.learned_sigma = true;
  model.attentions = 12;
  model.image_partial_sums = 3 * 12;
  return model;
}

StepShape bench_step() {
  parallel::ModelFacts facts;
  facts.latent_rows = 32;
  facts.latent_cols = 32;
  facts.batch = 1;
  facts.guidance = true;
  return step_shape(bench_pixart(), facts);
}

// B·p·hs·L·E of the bench step.
constexpr double kActivationsAllLayers = 2.0 * 1024 * 384 * 12 * 4;  // 37,748,736
// The output patches of the whole batch, B·p·patch²·C_out·E.
constexpr double kOutputPatches = 2.0 * 1024 * 4 * 8 * 4;  // 262,144

TEST(CommModel, StepShapeOfAPixArtRequest) {
  const StepShape s = bench_step();
  EXPECT_EQ(s.tokens, 1024);
  EXPECT_EQ(s.hidden, 384);
  EXPECT_EQ(s.layers, 12);
  EXPECT_EQ(s.batch, 2);
  EXPECT_EQ(s.images, 1);
  EXPECT_EQ(s.noise_values, 16);
  EXPECT_EQ(s.output_values, 32);
  EXPECT_EQ(s.element_bytes, 4);
}

TEST(CommModel, BytesPerRankPerStepOnTwoRanks) {
  const StepShape s = bench_step();
  const auto bytes = [&](ParallelMethod m) { return method_bytes_per_step(m, s, 2).bytes; };
  EXPECT_EQ(bytes(ParallelMethod::kSerial), 0);
  EXPECT_EQ(bytes(ParallelMethod::kData), 0);
  // Three all-reduces of [2, 1024, 384] per layer, each counted once at N = 2.
  EXPECT_DOUBLE_EQ(bytes(ParallelMethod::kTensor), 3 * kActivationsAllLayers);
  EXPECT_DOUBLE_EQ(bytes(ParallelMethod::kTensor), 113'246'208);
  // Ulysses (4f/N = 1) and Ring (2f = 1) coincide at N = 2, plus half the
  // output patches.
  EXPECT_DOUBLE_EQ(bytes(ParallelMethod::kUlysses), kActivationsAllLayers + kOutputPatches / 2);
  EXPECT_DOUBLE_EQ(bytes(ParallelMethod::kUlysses), 37'879'808);
  EXPECT_DOUBLE_EQ(bytes(ParallelMethod::kRing), 37'879'808);
  // K and V per layer, and half the stepped latents [1, 4, 64, 64].
  EXPECT_DOUBLE_EQ(bytes(ParallelMethod::kDistriFusion), kActivationsAllLayers + 65'536 / 2);
  // One branch's noise [1, 4, 64, 64].
  EXPECT_DOUBLE_EQ(bytes(ParallelMethod::kCfg), 65'536);
  // (one boundary's [2, 1024, 384] + the latent [1, 4, 64, 64]) over 2 ranks.
  EXPECT_DOUBLE_EQ(bytes(ParallelMethod::kPipeFusion), (2.0 * 1024 * 384 * 4 + 65'536) / 2);
}

TEST(CommModel, SequenceMethodsScaleWithTheDegree) {
  const StepShape s = bench_step();
  // Ulysses on 4: 4 · (3/4) / 4 = 3/4 of the activations; Ring: 2 · 3/4.
  EXPECT_DOUBLE_EQ(method_bytes_per_step(ParallelMethod::kUlysses, s, 4).bytes,
                   0.75 * kActivationsAllLayers + 0.75 * kOutputPatches);
  EXPECT_DOUBLE_EQ(method_bytes_per_step(ParallelMethod::kRing, s, 4).bytes,
                   1.5 * kActivationsAllLayers + 0.75 * kOutputPatches);
  EXPECT_DOUBLE_EQ(method_bytes_per_step(ParallelMethod::kTensor, s, 4).bytes,
                   4.5 * kActivationsAllLayers);
  EXPECT_THROW(method_bytes_per_step(ParallelMethod::kRing, s, 0), UsageError);
}

TEST(CommModel, IssueTableLeadingTerms) {
  const StepShape s = bench_step();
  EXPECT_DOUBLE_EQ(table_bytes_per_step(ParallelMethod::kTensor, s, 2), 4 * kActivationsAllLayers);
  EXPECT_DOUBLE_EQ(table_bytes_per_step(ParallelMethod::kRing, s, 2), 2 * kActivationsAllLayers);
  EXPECT_DOUBLE_EQ(table_bytes_per_step(ParallelMethod::kDistriFusion, s, 2),
                   2 * kActivationsAllLayers);
  EXPECT_DOUBLE_EQ(table_bytes_per_step(ParallelMethod::kUlysses, s, 2), 2 * kActivationsAllLayers);
  EXPECT_DOUBLE_EQ(table_bytes_per_step(ParallelMethod::kPipeFusion, s, 2),
                   2 * kActivationsAllLayers / 12);
  EXPECT_EQ(table_bytes_per_step(ParallelMethod::kCfg, s, 2), 0);
}

TEST(CommModel, DataRanksShareTheBatch) {
  parallel::ModelFacts facts;
  facts.latent_rows = 4;
  facts.latent_cols = 6;
  facts.batch = 4;
  facts.guidance = false;
  const StepShape s = step_shape(bench_pixart(), facts, 0, 1, 2);
  EXPECT_EQ(s.tokens, 24);
  EXPECT_EQ(s.images, 2);
  EXPECT_EQ(s.batch, 2);
  EXPECT_THROW(step_shape(bench_pixart(), facts, 0, 1, 3), UsageError);
}

// A Flux-like step: 2 double and 4 single blocks 96 wide, 8 × 8 image
// tokens, 16 text tokens, one image, no second branch. The text stream adds
// its own terms where a method moves it.
TEST(CommModel, TheTextStreamOfAnMMDiT) {
  pipelines::TransformerFacts flux;
  flux.inner_dim = 96;
  flux.num_layers = 6;
  flux.latent_channels = 16;
  flux.patch_size = 2;
  flux.attentions = 6;
  flux.joint_attentions = 6;
  flux.image_partial_sums = 2 * 2 + 4;
  flux.text_partial_sums = 2 * 2 + 4;
  parallel::ModelFacts facts;
  facts.latent_rows = 8;
  facts.latent_cols = 8;
  const StepShape s = step_shape(flux, facts, 16, 4);
  const auto bytes = [&](ParallelMethod m) { return method_bytes_per_step(m, s, 2).bytes; };
  const double image = 64.0 * 96 * 4;  // [1, 64, 96] float32
  const double text = 16.0 * 96 * 4;   // [1, 16, 96]
  const double output = 64.0 * 64 * 4 / 2;
  // Image q, k, v and output (4f/N = 1 at N = 2) per attention, plus half of
  // each text output gathered.
  EXPECT_DOUBLE_EQ(bytes(ParallelMethod::kUlysses), 6 * image + 6 * text / 2 + output);
  // Only the image's K and V go round.
  EXPECT_DOUBLE_EQ(bytes(ParallelMethod::kRing), 6 * image + output);
  // Eight all-reduces of each kind of token.
  EXPECT_DOUBLE_EQ(bytes(ParallelMethod::kTensor), 8 * image + 8 * text);
  // One boundary: the image once, the text with each of the 4 patches.
  EXPECT_DOUBLE_EQ(bytes(ParallelMethod::kPipeFusion), (image + 4 * text + 64.0 * 64 * 4) / 2);
}

}  // namespace
}  // namespace xdit::bench
