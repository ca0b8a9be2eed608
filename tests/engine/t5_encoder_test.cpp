#include "models/t5_encoder.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "io/reference_vector.hpp"
#include "support/reference_check.hpp"
#include "support/rounding.hpp"
#include "verify/conformance.hpp"

namespace xdit::models {
namespace {

const std::filesystem::path kGolden =
    std::filesystem::path(XDIT_TEST_DATA_DIR) / "golden" / "t5_tiny.safetensors";

io::Config config_of(nlohmann::json json) {
  return io::Config(std::move(json), "test config");
}

// The golden vector's weights without the "w." prefix, to edit in tests.
std::map<std::string, at::Tensor> golden_tensors() {
  const auto file = io::SafetensorsWeights::open_file(kGolden);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& key : file->keys()) {
    if (key.rfind("w.", 0) == 0)
      tensors[key.substr(2)] = file->load(key);
  }
  return tensors;
}

io::Weights weights_of(std::map<std::string, at::Tensor> tensors,
                       at::ScalarType dtype = at::kFloat) {
  return io::Weights(std::make_shared<io::TensorMapWeights>(std::move(tensors), "test weights"),
                     dtype);
}

// Random weights for `config` under exactly the keys T5EncoderModel has.
std::map<std::string, at::Tensor> random_tensors(const T5Config& config) {
  const int64_t d = config.d_model;
  const int64_t inner = config.num_heads * config.d_kv;
  std::map<std::string, at::Tensor> t;
  t["shared.weight"] = at::randn({config.vocab_size, d});
  t["encoder.embed_tokens.weight"] = t["shared.weight"];
  for (int64_t i = 0; i < config.num_layers; ++i) {
    const std::string block = "encoder.block." + std::to_string(i) + ".";
    for (const char* name : {"q", "k", "v"}) {
      t[block + "layer.0.SelfAttention." + name + ".weight"] = at::randn({inner, d}) * 0.3;
    }
    t[block + "layer.0.SelfAttention.o.weight"] = at::randn({d, inner}) * 0.3;
    if (i == 0) {
      t[block + "layer.0.SelfAttention.relative_attention_bias.weight"] =
          at::randn({config.relative_attention_num_buckets, config.num_heads});
    }
    t[block + "layer.0.layer_norm.weight"] = 1.0 + 0.1 * at::randn({d});
    const std::string dense = block + "layer.1.DenseReluDense.";
    if (config.is_gated_act) {
      t[dense + "wi_0.weight"] = at::randn({config.d_ff, d}) * 0.3;
      t[dense + "wi_1.weight"] = at::randn({config.d_ff, d}) * 0.3;
    } else {
      t[dense + "wi.weight"] = at::randn({config.d_ff, d}) * 0.3;
    }
    t[dense + "wo.weight"] = at::randn({d, config.d_ff}) * 0.3;
    t[block + "layer.1.layer_norm.weight"] = 1.0 + 0.1 * at::randn({d});
  }
  t["encoder.final_layer_norm.weight"] = 1.0 + 0.1 * at::randn({d});
  return t;
}

// Another family member: original-T5 relu feed-forward, more heads than
// d_model / d_kv would give, other buckets and depth.
T5Config relu_config() {
  return T5Config::from_config(config_of({{"vocab_size", 50},
                                          {"d_model", 12},
                                          {"d_kv", 5},
                                          {"d_ff", 20},
                                          {"num_layers", 3},
                                          {"num_heads", 3},
                                          {"relative_attention_num_buckets", 16},
                                          {"relative_attention_max_distance", 20},
                                          {"layer_norm_epsilon", 1e-5},
                                          {"feed_forward_proj", "relu"}}));
}

TEST(T5Encoder, MatchesGoldenVector) {
  ASSERT_EQ(io::ReferenceVector(kGolden).output_names().size(), 1u);
  xdit::testing::expect_matches_reference(kGolden);
}

TEST(T5Encoder, AcceptsEitherTiedEmbeddingKey) {
  const compat::InferenceGuard no_grad;
  const io::ReferenceVector vector(kGolden);
  const T5Config config = T5Config::from_config(vector.config());
  const at::Tensor ids = vector.input("input_ids");
  const at::Tensor mask = vector.input("attention_mask");
  const at::Tensor expected = vector.output("last_hidden_state");
  const double bound = xdit::testing::reference_bounds(vector).at("last_hidden_state");
  for (const char* dropped : {"shared.weight", "encoder.embed_tokens.weight"}) {
    auto tensors = golden_tensors();
    tensors.erase(dropped);
    const io::Weights weights = weights_of(tensors);
    const T5Encoder encoder(config, weights);
    EXPECT_NO_THROW(weights.expect_all_used()) << "without " << dropped;
    EXPECT_LE((encoder.forward(ids, mask) - expected).abs().max().item<double>(), bound);
  }
}

TEST(T5Encoder, RefusesMissingOrMismatchedEmbedding) {
  const T5Config config = T5Config::from_config(io::ReferenceVector(kGolden).config());
  auto tensors = golden_tensors();
  tensors["encoder.embed_tokens.weight"] = at::zeros({7, 32});
  EXPECT_THROW(T5Encoder(config, weights_of(tensors)), WeightError);
  tensors.erase("encoder.embed_tokens.weight");
  tensors.erase("shared.weight");
  EXPECT_THROW(T5Encoder(config, weights_of(tensors)), WeightError);
}

TEST(T5Encoder, RunsInBfloat16CloseToFloat32) {
  const compat::InferenceGuard no_grad;
  const io::ReferenceVector vector(kGolden);
  const T5Encoder encoder(T5Config::from_config(vector.config()), vector.weights(at::kBFloat16));
  const at::Tensor out = encoder.forward(vector.input("input_ids"), vector.input("attention_mask"));
  EXPECT_EQ(out.scalar_type(), at::kBFloat16);
  // Float32's rounding of the encoder, measured against float64, with
  // bfloat16's unit (support/rounding.hpp).
  const auto output = [&](at::ScalarType dtype) {
    return verify::run_reference_case(vector, dtype).at("last_hidden_state");
  };
  const at::Tensor f64 = output(at::kDouble);
  EXPECT_LE(
      xdit::testing::max_difference(out, f64),
      xdit::testing::measured_error_bound(output(at::kFloat), f64, xdit::testing::kBFloat16Unit));
}

TEST(T5Encoder, RandomReluConfigBuildsAndRuns) {
  const compat::InferenceGuard no_grad;
  at::manual_seed(3);
  const T5Config config = relu_config();
  EXPECT_FALSE(config.is_gated_act);
  EXPECT_EQ(config.dense_act_fn, "relu");
  const auto tensors = random_tensors(config);
  const io::Weights weights = weights_of(tensors);
  const T5Encoder encoder(config, weights);
  EXPECT_NO_THROW(weights.expect_all_used());

  const at::Tensor ids = at::randint(0, config.vocab_size, {2, 30}, at::kLong);
  at::Tensor mask = at::ones({2, 30}, at::kLong);
  mask[1].narrow(0, 17, 13).zero_();
  const at::Tensor out = encoder.forward(ids, mask);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 30, 12}));
  EXPECT_TRUE(out.isfinite().all().item<bool>());

  // The runs below sum in other orders (other batches and lengths): the bar
  // is float32's rounding of this one, measured against float64.
  const double bound = xdit::testing::measured_reorder_bound(
      out, T5Encoder(config, weights_of(tensors, at::kDouble)).forward(ids, mask));
  using xdit::testing::max_difference;
  // Padding only hides keys: the tokens before it see what they would see
  // alone, with the same relative positions.
  const at::Tensor alone = encoder.forward(ids[1].narrow(0, 0, 17).unsqueeze(0));
  EXPECT_LE(max_difference(out[1].narrow(0, 0, 17), alone[0]), bound);
  // Without a mask every row is independent of the others.
  const at::Tensor unmasked = encoder.forward(ids);
  EXPECT_LE(max_difference(out[0], unmasked[0]), bound);
  EXPECT_GT(max_difference(out[1], unmasked[1]), bound) << "the mask changed nothing";

  const T5Encoder bf16(config, weights_of(random_tensors(config), at::kBFloat16));
  EXPECT_EQ(bf16.forward(ids, mask).scalar_type(), at::kBFloat16);
}

TEST(T5Encoder, EveryActivationBuildsFromItsConfig) {
  const compat::InferenceGuard no_grad;
  const std::pair<const char*, const char*> cases[] = {
      {"gated-gelu", "gelu_new"}, {"gated-silu", "silu"}, {"gelu", "gelu"}, {"gated-relu", "relu"}};
  for (const auto& [proj, act] : cases) {
    const T5Config config = T5Config::from_config(config_of({{"vocab_size", 10},
                                                             {"d_model", 8},
                                                             {"d_kv", 4},
                                                             {"d_ff", 8},
                                                             {"num_layers", 1},
                                                             {"num_heads", 2},
                                                             {"feed_forward_proj", proj}}));
    EXPECT_EQ(config.dense_act_fn, act) << proj;
    EXPECT_EQ(config.is_gated_act, std::string(proj).rfind("gated-", 0) == 0) << proj;
    const T5Encoder encoder(config, weights_of(random_tensors(config)));
    const at::Tensor out = encoder.forward(at::arange(6, at::kLong).view({1, 6}));
    EXPECT_TRUE(out.isfinite().all().item<bool>()) << proj;
  }
}

TEST(T5Config, DefaultsAndStoredOverridesAreTransformers) {
  const T5Config defaults = T5Config::from_config(config_of(nlohmann::json::object()));
  EXPECT_EQ(defaults.vocab_size, 32128);
  EXPECT_EQ(defaults.d_model, 512);
  EXPECT_EQ(defaults.num_heads, 8);
  EXPECT_EQ(defaults.relative_attention_num_buckets, 32);
  EXPECT_EQ(defaults.relative_attention_max_distance, 128);
  EXPECT_EQ(defaults.dense_act_fn, "relu");
  EXPECT_FALSE(defaults.is_gated_act);
  // A stored dense_act_fn / is_gated_act wins over feed_forward_proj.
  const T5Config stored = T5Config::from_config(
      config_of({{"feed_forward_proj", "gated-gelu"}, {"dense_act_fn", "gelu_pytorch_tanh"}}));
  EXPECT_EQ(stored.dense_act_fn, "gelu_pytorch_tanh");
  EXPECT_TRUE(stored.is_gated_act);
}

TEST(T5Config, RefusesBadValuesNamingTheKey) {
  const std::pair<nlohmann::json, const char*> cases[] = {
      {{{"feed_forward_proj", "gated-swiglu"}}, "dense_act_fn"},
      {{{"feed_forward_proj", "fancy-relu"}}, "feed_forward_proj"},
      {{{"feed_forward_proj", "gated-gelu-new"}}, "feed_forward_proj"},
      {{{"dense_act_fn", "tanh"}}, "dense_act_fn"},
      {{{"d_model", 0}}, "d_model"},
      {{{"num_heads", -2}}, "num_heads"},
      {{{"relative_attention_num_buckets", 2}}, "relative_attention_num_buckets"},
      {{{"relative_attention_max_distance", 8}}, "relative_attention_max_distance"},
      {{{"vocab_size", "many"}}, "vocab_size"},
      {{{"model_type", "bert"}}, "model_type"},
  };
  for (const auto& [json, key] : cases) {
    try {
      T5Config::from_config(config_of(json));
      ADD_FAILURE() << "accepted " << json.dump();
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

TEST(T5Encoder, RefusesBadInputs) {
  const compat::InferenceGuard no_grad;
  const T5Config config = relu_config();
  const T5Encoder encoder(config, weights_of(random_tensors(config)));
  EXPECT_THROW(encoder.forward(at::zeros({4}, at::kLong)), UsageError);
  EXPECT_THROW(encoder.forward(at::zeros({1, 0}, at::kLong)), UsageError);
  EXPECT_THROW(encoder.forward(at::full({1, 3}, 50, at::kLong)), UsageError);
  EXPECT_THROW(encoder.forward(at::zeros({1, 3}, at::kFloat)), UsageError);
  EXPECT_THROW(encoder.forward(at::zeros({1, 3}, at::kLong), at::ones({1, 4}, at::kLong)),
               UsageError);
}

TEST(T5RelativePositionBucket, MatchesTransformersBuckets) {
  // num_buckets 32, max_distance 128 (every T5 checkpoint): 16 buckets per
  // direction, 8 exact, the rest logarithmic up to 128, then saturated.
  const at::Tensor relative =
      at::tensor(std::vector<int64_t>{0, -1, -7, -8, -12, -127, -500, 1, 7, 12, 500});
  const at::Tensor buckets = t5_relative_position_bucket(relative, 32, 128);
  const std::vector<int64_t> expected{0, 1, 7, 8, 9, 15, 15, 17, 23, 25, 31};
  ASSERT_EQ(buckets.numel(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(buckets[i].item<int64_t>(), expected[i])
        << "relative position " << relative[i].item<int64_t>();
  }
}

}  // namespace
}  // namespace xdit::models
