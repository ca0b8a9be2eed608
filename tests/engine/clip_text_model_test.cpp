#include "models/clip_text_model.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "io/reference_vector.hpp"
#include "support/reference_check.hpp"

namespace xdit::models {
namespace {

const std::filesystem::path kGoldenDir = std::filesystem::path(XDIT_TEST_DATA_DIR) / "golden";

io::Config config_of(nlohmann::json json) {
  return io::Config(std::move(json), "test config");
}

// CLIPTextModelWithProjection with the pooling of transformers 4.44: the
// first EOS of each row (rows padded with EOS hold several).
TEST(ClipTextModel, MatchesGoldenVectorPoolingAtTheFirstEos) {
  xdit::testing::expect_matches_reference(kGoldenDir / "clip_tiny.safetensors");
}

// eos_token_id 2 (older configs, such as the CLIP-L of SD3 and Flux): the
// pooled position is the largest id's, though id 2 comes first.
TEST(ClipTextModel, MatchesGoldenVectorPoolingAtTheLargestIdForLegacyConfigs) {
  xdit::testing::expect_matches_reference(kGoldenDir / "clip_tiny_legacy_eos2.safetensors");
}

// CLIPTextModel (Flux's pooled vector) is the same model without the
// projection: its outputs are the projected model's, and no text_projection
// key is wanted.
TEST(ClipTextModel, WithoutProjectionGivesTheSameStatesAndNoEmbeds) {
  const compat::InferenceGuard no_grad;
  const io::ReferenceVector vector(kGoldenDir / "clip_tiny.safetensors");
  const ClipTextConfig config = ClipTextConfig::from_config(vector.config());
  const at::Tensor ids = vector.input("input_ids");
  const io::Weights all = vector.weights(at::kFloat);
  const ClipTextOutput projected = ClipTextModel(config, all, true).forward(ids);
  const io::Weights weights = vector.weights(at::kFloat);
  const ClipTextOutput plain = ClipTextModel(config, weights, false).forward(ids);
  EXPECT_FALSE(plain.text_embeds.defined());
  EXPECT_TRUE(at::equal(plain.pooled, projected.pooled));
  EXPECT_TRUE(at::equal(plain.penultimate, projected.penultimate));
  EXPECT_THROW(weights.expect_all_used(), WeightError) << "text_projection is left over";
}

TEST(ClipTextConfig, DefaultsAreTransformersAndBadValuesNameTheKey) {
  const ClipTextConfig defaults = ClipTextConfig::from_config(config_of(nlohmann::json::object()));
  EXPECT_EQ(defaults.vocab_size, 49408);
  EXPECT_EQ(defaults.max_position_embeddings, 77);
  EXPECT_EQ(defaults.eos_token_id, 49407);
  EXPECT_FALSE(defaults.pools_at_largest_id());
  const std::pair<nlohmann::json, const char*> cases[] = {
      {{{"hidden_act", "relu"}}, "hidden_act"},
      {{{"hidden_size", 0}}, "hidden_size"},
      {{{"hidden_size", 30}, {"num_attention_heads", 4}}, "num_attention_heads"},
      {{{"layer_norm_eps", -1.0}}, "layer_norm_eps"},
      {{{"model_type", "clip_vision_model"}}, "model_type"},
      {{{"max_position_embeddings", "77"}}, "max_position_embeddings"},
  };
  for (const auto& [json, key] : cases) {
    try {
      ClipTextConfig::from_config(config_of(json));
      ADD_FAILURE() << "accepted " << json.dump();
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

TEST(ClipTextModel, RefusesBadInputs) {
  const compat::InferenceGuard no_grad;
  const io::ReferenceVector vector(kGoldenDir / "clip_tiny.safetensors");
  const ClipTextConfig config = ClipTextConfig::from_config(vector.config());
  const ClipTextModel model(config, vector.weights(at::kFloat), true);
  EXPECT_THROW(model.forward(at::zeros({4}, at::kLong)), UsageError);
  EXPECT_THROW(model.forward(at::zeros({1, 0}, at::kLong)), UsageError);
  EXPECT_THROW(model.forward(at::full({1, 3}, config.vocab_size, at::kLong)), UsageError);
  EXPECT_THROW(model.forward(at::zeros({1, config.max_position_embeddings + 1}, at::kLong)),
               UsageError);
  EXPECT_THROW(model.forward(at::zeros({1, 3}, at::kFloat)), UsageError);
}

}  // namespace
}  // namespace xdit::models
