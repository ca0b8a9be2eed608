#include "models/sd3_transformer.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "io/reference_vector.hpp"
#include "support/reference_check.hpp"

namespace xdit::models {
namespace {

const std::filesystem::path kGolden =
    std::filesystem::path(XDIT_TEST_DATA_DIR) / "golden" / "sd3_tiny.safetensors";

io::Config config_of(nlohmann::json json) {
  return io::Config(std::move(json), "test config");
}

// Two joint blocks, the last context_pre_only; an 8 x 8 latent (4 x 4
// patches) centre-cropped from the stored 16 x 16 position table.
TEST(SD3Transformer, MatchesGoldenVector) {
  xdit::testing::expect_matches_reference(kGolden);
}

// SD3.5: RMS-normalised queries and keys, dual attention in blocks 0 and 1,
// a non-square latent (scripts/make_mmdit_vectors.py, current diffusers).
TEST(SD3Transformer, SD35MatchesGoldenVector) {
  xdit::testing::expect_matches_reference(kGolden.parent_path() / "sd35_tiny.safetensors");
}

// The crop follows the grid: a wide latent reads other table entries than a
// square one, and a grid beyond the table is refused by name.
TEST(SD3Transformer, AnyResolutionUpToTheStoredTable) {
  const compat::InferenceGuard no_grad;
  const io::ReferenceVector vector(kGolden);
  const SD3Config config = SD3Config::from_config(vector.config());
  const SD3Transformer model(config, vector.weights(at::kFloat));
  const at::Tensor text = vector.input("encoder_hidden_states");
  const at::Tensor pooled = vector.input("pooled_projections");
  const at::Tensor t = vector.input("timestep");
  const at::Tensor wide = at::randn({2, config.in_channels, 8, 24});
  EXPECT_EQ(model.forward(wide, text, pooled, t).sizes(), wide.sizes());
  const int64_t beyond = (config.pos_embed_max_size + 1) * config.patch_size;
  try {
    model.forward(at::randn({2, config.in_channels, beyond, 8}), text, pooled, t);
    FAIL() << "a grid beyond the table was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("pos_embed_max_size"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model.forward(at::randn({2, config.in_channels, 7, 8}), text, pooled, t),
               UsageError);
  EXPECT_THROW(model.forward(wide, text, pooled.narrow(0, 0, 1), t), UsageError);
}

TEST(SD3Config, RefusesBadValuesNamingTheKey) {
  const std::pair<nlohmann::json, const char*> cases[] = {
      {{{"caption_projection_dim", 100}}, "caption_projection_dim"},
      {{{"num_layers", 0}}, "num_layers"},
      {{{"qk_norm", "layer_norm"}}, "qk_norm"},
      {{{"num_layers", 4}, {"dual_attention_layers", {0, 4}}}, "dual_attention_layers"},
      {{{"num_layers", 4}, {"dual_attention_layers", {3}}}, "dual_attention_layers"},
  };
  for (const auto& [json, key] : cases) {
    try {
      SD3Config::from_config(config_of(json));
      ADD_FAILURE() << "accepted " << json.dump();
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(SD3Config::from_config(
      config_of({{"qk_norm", nullptr}, {"dual_attention_layers", nlohmann::json::array()}})));
  const SD3Config sd35 = SD3Config::from_config(
      config_of({{"num_layers", 4}, {"qk_norm", "rms_norm"}, {"dual_attention_layers", {0, 2}}}));
  EXPECT_TRUE(sd35.qk_norm);
  EXPECT_TRUE(sd35.has_dual_attention(2));
  EXPECT_FALSE(sd35.has_dual_attention(1));
}

}  // namespace
}  // namespace xdit::models
