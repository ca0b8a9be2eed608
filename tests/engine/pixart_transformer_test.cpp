#include "models/pixart_transformer.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "io/config.hpp"
#include "io/weight_source.hpp"
#include "support/reference_check.hpp"
#include "support/rounding.hpp"

namespace xdit::models {
namespace {

using Checkpoint = std::map<std::string, at::Tensor>;

const std::filesystem::path kGoldenDir = std::filesystem::path(XDIT_TEST_DATA_DIR) / "golden";

io::Config config_from(const std::string& json) {
  return io::Config(io::parse_json(json, "test"), "test config.json");
}

// A different shape of the family than the golden vectors: 4 heads of 12,
// three layers, gelu, affine norms, size conditioning at sample_size 32.
const char* const kOtherConfig = R"({
  "num_attention_heads": 4, "attention_head_dim": 12, "in_channels": 4, "out_channels": null,
  "num_layers": 3, "cross_attention_dim": 48, "attention_bias": true, "sample_size": 32,
  "patch_size": 2, "activation_fn": "gelu", "num_embeds_ada_norm": 1000,
  "norm_type": "ada_norm_single", "norm_elementwise_affine": true, "norm_eps": 1e-5,
  "interpolation_scale": null, "use_additional_conditions": true, "caption_channels": 24})";

// Every state_dict key of a PixArt checkpoint for `c`, with random values.
Checkpoint random_checkpoint(const PixArtConfig& c) {
  at::manual_seed(7);
  Checkpoint tensors;
  const auto add = [&](const std::string& key, std::vector<int64_t> shape) {
    tensors[key] = at::randn(shape) * 0.2;
  };
  const auto linear = [&](const std::string& prefix, int64_t in, int64_t out) {
    add(prefix + ".weight", {out, in});
    add(prefix + ".bias", {out});
  };
  const int64_t d = c.inner_dim();
  const int64_t p = c.patch_size;
  add("pos_embed.proj.weight", {d, c.in_channels, p, p});
  add("pos_embed.proj.bias", {d});
  linear("adaln_single.emb.timestep_embedder.linear_1", 256, d);
  linear("adaln_single.emb.timestep_embedder.linear_2", d, d);
  if (c.use_additional_conditions) {
    for (const std::string name : {"resolution_embedder", "aspect_ratio_embedder"}) {
      linear("adaln_single.emb." + name + ".linear_1", 256, d / 3);
      linear("adaln_single.emb." + name + ".linear_2", d / 3, d / 3);
    }
  }
  linear("adaln_single.linear", d, 6 * d);
  linear("caption_projection.linear_1", *c.caption_channels, d);
  linear("caption_projection.linear_2", d, d);
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    const std::string block = "transformer_blocks." + std::to_string(layer) + ".";
    add(block + "scale_shift_table", {6, d});
    for (const std::string attn : {"attn1", "attn2"}) {
      for (const std::string proj : {"to_q", "to_k", "to_v", "to_out.0"}) {
        linear(block + attn + "." + proj, d, d);
      }
    }
    linear(block + "ff.net.0.proj", d, 4 * d);
    linear(block + "ff.net.2", 4 * d, d);
    for (const std::string norm : {"norm1", "norm2"}) {
      add(block + norm + ".weight", {d});
      add(block + norm + ".bias", {d});
    }
  }
  add("scale_shift_table", {2, d});
  linear("proj_out", d, p * p * c.out_channels);
  return tensors;
}

io::Weights weights_of(Checkpoint tensors, at::ScalarType dtype = at::kFloat) {
  return io::Weights(std::make_shared<io::TensorMapWeights>(std::move(tensors), "random"), dtype);
}

// Inputs for a batch of two at a 6 x 10 latent (a 3 x 5 patch grid).
struct Inputs {
  at::Tensor latent = at::randn({2, 4, 6, 10});
  at::Tensor text = at::randn({2, 5, 24});
  at::Tensor timestep = at::tensor(std::vector<int64_t>{999, 17});
  at::Tensor mask = at::tensor(std::vector<int64_t>{1, 1, 1, 0, 0, 1, 1, 1, 1, 1}).reshape({2, 5});
  at::Tensor resolution = at::tensor(std::vector<float>{48, 80, 48, 80}).reshape({2, 2});
  at::Tensor aspect_ratio = at::tensor(std::vector<float>{0.6f, 0.6f}).reshape({2, 1});

  DitInputs dit_inputs() const {
    DitInputs in;
    in.text = text;
    in.text_mask = mask;
    in.resolution = resolution;
    in.aspect_ratio = aspect_ratio;
    return in;
  }

  at::Tensor run(const PixArtTransformer& model, AttentionStrategy* strategy = nullptr) const {
    return model.forward(latent, text, timestep, mask, resolution, aspect_ratio, strategy);
  }
};

// Passes through to local attention and records which layers asked.
class RecordingAttention final : public AttentionStrategy {
 public:
  JointOutput attend(int64_t layer, const Qkv& image, const Qkv& text, JointOrder order,
                     double scale) override {
    layers.push_back(layer);
    return local_.attend(layer, image, text, order, scale);
  }
  std::vector<int64_t> layers;

 private:
  LocalAttention local_;
};

template <typename Error>
std::string message_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

TEST(PixArtTransformer, MatchesAlphaReferenceWithMaskAndSizeConditions) {
  xdit::testing::expect_matches_reference(kGoldenDir / "pixart_alpha_tiny.safetensors");
}

TEST(PixArtTransformer, MatchesSigmaReferenceNonSquareWithoutMask) {
  xdit::testing::expect_matches_reference(kGoldenDir / "pixart_sigma_tiny.safetensors");
}

TEST(PixArtConfig, AppliesDiffusersDefaults) {
  const auto small = PixArtConfig::from_config(config_from(
      R"({"in_channels": 4, "sample_size": 64, "patch_size": 2, "out_channels": null})"));
  EXPECT_EQ(small.out_channels, 4);
  EXPECT_EQ(small.num_attention_heads, 16);
  EXPECT_EQ(small.attention_head_dim, 72);
  EXPECT_EQ(small.num_layers, 28);
  EXPECT_EQ(small.cross_attention_dim, 1152);
  EXPECT_DOUBLE_EQ(small.interpolation_scale, 1.0);
  EXPECT_FALSE(small.use_additional_conditions);
  EXPECT_FALSE(small.caption_channels.has_value());
  EXPECT_EQ(small.base_size(), 32);

  const auto alpha = PixArtConfig::from_config(
      config_from(R"({"in_channels": 4, "sample_size": 128, "patch_size": 2})"));
  EXPECT_EQ(alpha.out_channels, 8);
  EXPECT_DOUBLE_EQ(alpha.interpolation_scale, 2.0);
  EXPECT_TRUE(alpha.use_additional_conditions);

  const auto no_text = PixArtConfig::from_config(config_from(
      R"({"in_channels": 4, "sample_size": 256, "patch_size": 2, "cross_attention_dim": null})"));
  EXPECT_FALSE(no_text.cross_attention_dim.has_value());
  EXPECT_DOUBLE_EQ(no_text.interpolation_scale, 4.0);
}

TEST(PixArtConfig, RejectsBadValuesNamingTheKey) {
  const auto error_for = [](const std::string& json) {
    return message_of<ConfigError>([&] { PixArtConfig::from_config(config_from(json)); });
  };
  const std::string base = R"("in_channels": 4, "sample_size": 64, "patch_size": 2)";
  EXPECT_NE(error_for("{" + base + R"(, "norm_type": "ada_norm_zero"})").find("'norm_type'"),
            std::string::npos);
  EXPECT_NE(error_for("{" + base + R"(, "activation_fn": "geglu"})").find("'activation_fn'"),
            std::string::npos);
  EXPECT_NE(error_for("{" + base +
                      R"(, "num_attention_heads": 2, "attention_head_dim": 16,
                           "use_additional_conditions": true})")
                .find("'use_additional_conditions'"),
            std::string::npos);
  EXPECT_NE(error_for("{" + base + R"(, "attention_head_dim": 9, "num_attention_heads": 2})")
                .find("'attention_head_dim'"),
            std::string::npos);
  EXPECT_NE(error_for("{" + base + R"(, "caption_channels": 8, "cross_attention_dim": 64})")
                .find("'cross_attention_dim'"),
            std::string::npos);
  EXPECT_NE(error_for("{" + base + R"(, "num_layers": 0})").find("'num_layers'"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"in_channels": 4, "patch_size": 2})").find("'sample_size'"),
            std::string::npos);
  EXPECT_NE(error_for("{" + base + R"(, "num_embeds_ada_norm": null})").find("num_embeds_ada_norm"),
            std::string::npos);
}

TEST(PixArtTransformer, BuildsAndRunsAnotherConfigOnANonSquareLatent) {
  const compat::InferenceGuard no_grad;
  const auto config = PixArtConfig::from_config(config_from(kOtherConfig));
  const io::Weights weights = weights_of(random_checkpoint(config));
  const PixArtTransformer model(config, weights);
  EXPECT_NO_THROW(weights.expect_all_used());

  const Inputs inputs;
  RecordingAttention recording;
  const at::Tensor out = inputs.run(model, &recording);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 4, 6, 10}));
  EXPECT_TRUE(at::isfinite(out).all().item<bool>());
  EXPECT_EQ(recording.layers, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(at::equal(out, inputs.run(model)));

  // The mask and the size conditions reach the output.
  EXPECT_FALSE(
      at::allclose(out, model.forward(inputs.latent, inputs.text, inputs.timestep, at::Tensor(),
                                      inputs.resolution, inputs.aspect_ratio)));
  EXPECT_FALSE(
      at::allclose(out, model.forward(inputs.latent, inputs.text, inputs.timestep, inputs.mask,
                                      inputs.resolution * 2, inputs.aspect_ratio)));
  EXPECT_THROW(model.forward(inputs.latent, inputs.text, inputs.timestep, inputs.mask), UsageError);
}

TEST(PixArtTransformer, RunsInBfloat16) {
  const compat::InferenceGuard no_grad;
  const auto config = PixArtConfig::from_config(config_from(kOtherConfig));
  const Checkpoint checkpoint = random_checkpoint(config);
  const PixArtTransformer reference(config, weights_of(checkpoint));
  const PixArtTransformer bf16(config, weights_of(checkpoint, at::kBFloat16));
  const Inputs inputs;
  const at::Tensor expected = inputs.run(reference);
  const at::Tensor out = inputs.run(bf16);
  EXPECT_EQ(out.scalar_type(), at::kBFloat16);
  // Float32's rounding of the model, measured against float64, with
  // bfloat16's unit (support/rounding.hpp).
  const at::Tensor expected64 =
      inputs.run(PixArtTransformer(config, weights_of(checkpoint, at::kDouble)));
  EXPECT_LE(
      xdit::testing::max_difference(out, expected64),
      xdit::testing::measured_error_bound(expected, expected64, xdit::testing::kBFloat16Unit));
}

TEST(SincosPosEmbed, RowBandEqualsTheMatchingRowsOfTheFullGrid) {
  const int64_t dim = 48;
  const at::Tensor full = sincos_pos_embed_2d(dim, PatchRows::whole(7, 5), 64, 2.0);
  ASSERT_EQ(full.sizes(), (std::vector<int64_t>{35, dim}));
  EXPECT_EQ(full.scalar_type(), at::kFloat);
  const at::Tensor band = sincos_pos_embed_2d(dim, PatchRows::band(7, 5, 2, 3), 64, 2.0);
  EXPECT_TRUE(at::equal(band, full.narrow(0, 2 * 5, 3 * 5)));
  // Token (0, 0) sits at the origin: sines 0, cosines 1.
  const at::Tensor origin = full[0].reshape({4, dim / 4});
  EXPECT_TRUE(at::equal(origin[0], at::zeros({dim / 4})));
  EXPECT_TRUE(at::equal(origin[1], at::ones({dim / 4})));
  // Columns fill the first half: tokens of one column share it across rows.
  EXPECT_TRUE(at::equal(full[1].narrow(0, 0, dim / 2), full[6].narrow(0, 0, dim / 2)));
  EXPECT_THROW(PatchRows::band(7, 5, 6, 2), UsageError);
}

TEST(PixArtTransformer, EmbedsAndFinishesBandsOfRows) {
  const compat::InferenceGuard no_grad;
  const auto config = PixArtConfig::from_config(config_from(kOtherConfig));
  const Checkpoint checkpoint = random_checkpoint(config);
  const PixArtTransformer model(config, weights_of(checkpoint));
  // A band's products have fewer rows than the whole grid's, for which the
  // BLAS may choose other kernels that sum in other orders: the bar is the
  // whole grid's float32 rounding, measured against a float64 run.
  const PixArtTransformer model64(config, weights_of(checkpoint, at::kDouble));
  const Inputs inputs;
  const PatchRows whole = model.patch_grid(6, 10);
  const PatchRows band = PatchRows::band(3, 5, 1, 2);
  const auto condition = [&](const PixArtTransformer& m) {
    return m.condition(inputs.timestep, inputs.dit_inputs());
  };
  const auto conditioning = condition(model);
  using xdit::testing::max_difference;
  using xdit::testing::measured_reorder_bound;

  const auto embed = [&](const PixArtTransformer& m, const at::Tensor& latent,
                         const TokenSpan& span) {
    return m.embed(latent, span, *conditioning).image;
  };
  const at::Tensor tokens = embed(model, inputs.latent, TokenSpan::whole(whole));
  const at::Tensor band_tokens =
      embed(model, inputs.latent.narrow(2, 2, 4), TokenSpan::of_rows(band));
  EXPECT_LE(max_difference(band_tokens, tokens.narrow(1, 5, 10)),
            measured_reorder_bound(tokens, embed(model64, inputs.latent, TokenSpan::whole(whole))));
  // A run that starts and ends mid-row reads the rows that cover it.
  const TokenSpan mid_row{whole, 7, 6};
  EXPECT_EQ(mid_row.rows().first_row, 1);
  EXPECT_EQ(mid_row.rows().num_rows, 2);
  EXPECT_LE(
      max_difference(embed(model, inputs.latent.narrow(2, 2, 4), mid_row), tokens.narrow(1, 7, 6)),
      measured_reorder_bound(tokens, embed(model64, inputs.latent, TokenSpan::whole(whole))));

  const at::Tensor out = model.finish(tokens, *conditioning, whole);
  const at::Tensor band_out = model.finish(tokens.narrow(1, 5, 10), *conditioning, band);
  const at::Tensor out64 = model64.finish(tokens.to(at::kDouble), *condition(model64), whole);
  EXPECT_LE(max_difference(band_out, out.narrow(2, 2, 4)), measured_reorder_bound(out, out64));
  EXPECT_THROW(model.patch_grid(7, 10), UsageError);
}

TEST(PixArtTransformer, StagesHoldTheirLayersAndComposeToTheWholeModel) {
  const compat::InferenceGuard no_grad;
  const auto config = PixArtConfig::from_config(config_from(kOtherConfig));
  const Checkpoint checkpoint = random_checkpoint(config);

  const io::Weights middle_weights = weights_of(checkpoint);
  const PixArtTransformer middle(config, middle_weights, {1, 2, false, false});
  EXPECT_NO_THROW(middle_weights.expect_all_used());
  EXPECT_EQ(middle.stage().last_layer, 2);
  EXPECT_FALSE(middle.stage().is_whole(config.num_layers));

  const PixArtTransformer first(config, weights_of(checkpoint), {0, 1, true, false});
  const PixArtTransformer last(config, weights_of(checkpoint), {2, std::nullopt, false, true});
  const PixArtTransformer whole(config, weights_of(checkpoint));

  const Inputs inputs;
  const PatchRows grid = whole.patch_grid(6, 10);
  LocalAttention local;
  const TokenSpan span = TokenSpan::whole(grid);
  const auto conditioning = [&](const PixArtTransformer& stage) {
    return stage.condition(inputs.timestep, inputs.dit_inputs());
  };
  DitHidden hidden = first.run_blocks(first.embed(inputs.latent, span, *conditioning(first)), span,
                                      *conditioning(first), local);
  hidden = middle.run_blocks(hidden, span, *conditioning(middle), local);
  hidden = last.run_blocks(hidden, span, *conditioning(last), local);
  const at::Tensor staged = last.finish(hidden.image, *conditioning(last), grid);
  // The same products as the whole model's, but whether a BLAS sums them in
  // the same order is its own affair: the bar is float32's rounding of the
  // whole model, measured against a float64 run.
  const PixArtTransformer whole64(config, weights_of(checkpoint, at::kDouble));
  EXPECT_LE(xdit::testing::max_difference(staged, inputs.run(whole)),
            xdit::testing::measured_reorder_bound(inputs.run(whole), inputs.run(whole64)));

  const auto middle_conditioning = conditioning(middle);
  EXPECT_THROW(middle.embed(inputs.latent, span, *middle_conditioning), UsageError);
  EXPECT_THROW(middle.finish(hidden.image, *middle_conditioning, grid), UsageError);
  EXPECT_THROW(inputs.run(middle), UsageError);
  EXPECT_THROW(PixArtTransformer(config, weights_of(checkpoint), {2, 2}), UsageError);
  EXPECT_THROW(PixArtTransformer(config, weights_of(checkpoint), {0, 4}), UsageError);
}

TEST(PixArtTransformer, WrongShapeOrMissingKeyNamesTheKey) {
  const auto config = PixArtConfig::from_config(config_from(kOtherConfig));

  Checkpoint wrong_shape = random_checkpoint(config);
  wrong_shape["transformer_blocks.1.attn2.to_k.weight"] = at::zeros({48, 40});
  std::string message =
      message_of<WeightError>([&] { PixArtTransformer(config, weights_of(wrong_shape)); });
  EXPECT_NE(message.find("transformer_blocks.1.attn2.to_k.weight"), std::string::npos) << message;

  Checkpoint missing = random_checkpoint(config);
  missing.erase("adaln_single.emb.resolution_embedder.linear_2.bias");
  message = message_of<WeightError>([&] { PixArtTransformer(config, weights_of(missing)); });
  EXPECT_NE(message.find("adaln_single.emb.resolution_embedder.linear_2.bias"), std::string::npos)
      << message;

  // A config with fewer layers than the checkpoint leaves keys unused.
  PixArtConfig two_layers = config;
  two_layers.num_layers = 2;
  const io::Weights weights = weights_of(random_checkpoint(config));
  const PixArtTransformer model(two_layers, weights);
  message = message_of<WeightError>([&] { weights.expect_all_used(); });
  EXPECT_NE(message.find("transformer_blocks.2."), std::string::npos) << message;
}

}  // namespace
}  // namespace xdit::models
