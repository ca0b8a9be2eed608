#include "models/flux_transformer.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "io/reference_vector.hpp"
#include "models/rope.hpp"
#include "support/reference_check.hpp"
#include "support/rounding.hpp"

namespace xdit::models {
namespace {

const std::filesystem::path kGolden =
    std::filesystem::path(XDIT_TEST_DATA_DIR) / "golden" / "flux_tiny.safetensors";

io::Config config_of(nlohmann::json json) {
  return io::Config(std::move(json), "test config");
}

// One double-stream and two single-stream blocks, guidance-distilled (dev),
// rotary axes 4 + 6 + 6.
TEST(FluxTransformer, MatchesGoldenVector) {
  xdit::testing::expect_matches_reference(kGolden);
}

// Schnell: no guidance embedder; two double and two single blocks on a
// non-square packed latent (scripts/make_mmdit_vectors.py, current diffusers).
TEST(FluxTransformer, SchnellMatchesGoldenVector) {
  xdit::testing::expect_matches_reference(kGolden.parent_path() / "flux_tiny_schnell.safetensors");
}

// A rotation keeps each pair's length and turns it by position * frequency:
// axis 0's first pair of a token at position 1 turns by exactly 1 radian.
TEST(FluxRope, RotatesAdjacentPairsByPositionTimesFrequency) {
  const at::Tensor ids = at::tensor({0.0, 1.0, 2.0}, at::kDouble).view({1, 1, 3});
  const at::Tensor table = rope_table(ids, {2, 2, 2}, 10000.0);
  EXPECT_EQ(table.sizes(), (at::IntArrayRef{1, 1, 1, 3, 2, 2}));
  const at::Tensor x = at::randn({1, 1, 1, 6}, at::kDouble);
  const at::Tensor rotated = apply_rope(x, table).to(at::kDouble);
  const at::Tensor pairs_in = x.view({3, 2});
  const at::Tensor pairs_out = rotated.view({3, 2});
  const double bound = xdit::testing::rounding_bound(8, 4.0);  // float32 math
  EXPECT_LE(xdit::testing::max_difference(pairs_out.norm(2, 1), pairs_in.norm(2, 1)), bound);
  EXPECT_LE(xdit::testing::max_difference(pairs_out[0], pairs_in[0]), bound) << "position 0";
  const double angle = 1.0;  // position 1, frequency theta^0
  const at::Tensor turned =
      at::stack({pairs_in[1][0] * std::cos(angle) - pairs_in[1][1] * std::sin(angle),
                 pairs_in[1][0] * std::sin(angle) + pairs_in[1][1] * std::cos(angle)});
  EXPECT_LE(xdit::testing::max_difference(pairs_out[1], turned), bound);
  EXPECT_THROW(rope_table(ids.view({1, 3}), {2, 2, 2}, 10000.0), UsageError);
}

TEST(FluxTransformer, GuidanceIsRequiredExactlyByDevModels) {
  const compat::InferenceGuard no_grad;
  const io::ReferenceVector vector(kGolden);
  const FluxTransformer model(FluxConfig::from_config(vector.config()), vector.weights(at::kFloat));
  ASSERT_TRUE(model.config().guidance_embeds);
  try {
    model.forward(vector.input("hidden_states"), vector.input("encoder_hidden_states"),
                  vector.input("pooled_projections"), vector.input("timestep"),
                  vector.input("img_ids"), vector.input("txt_ids"));
    FAIL() << "a dev model ran without guidance";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("guidance"), std::string::npos) << e.what();
  }
  EXPECT_THROW(
      model.forward(vector.input("hidden_states"), vector.input("encoder_hidden_states"),
                    vector.input("pooled_projections"), vector.input("timestep"),
                    vector.input("txt_ids"), vector.input("txt_ids"), vector.input("guidance")),
      UsageError);
}

TEST(FluxConfig, RefusesBadValuesNamingTheKey) {
  const std::pair<nlohmann::json, const char*> cases[] = {
      {{{"patch_size", 2}}, "patch_size"},
      {{{"axes_dims_rope", {16, 56, 50}}}, "axes_dims_rope"},
      {{{"axes_dims_rope", {15, 57, 56}}}, "axes_dims_rope"},
      {{{"num_attention_heads", 0}}, "num_attention_heads"},
  };
  for (const auto& [json, key] : cases) {
    try {
      FluxConfig::from_config(config_of(json));
      ADD_FAILURE() << "accepted " << json.dump();
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace xdit::models
