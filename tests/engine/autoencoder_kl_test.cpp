#include "models/autoencoder_kl.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
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

using TensorMap = std::map<std::string, at::Tensor>;

const std::string kGolden = std::string(XDIT_TEST_DATA_DIR) + "/golden/vae_tiny.safetensors";

io::Config make_config(const nlohmann::json& json) {
  return io::Config(json, "test config");
}

// A config unlike the golden one: three blocks, other channels and groups,
// two layers per block, no quant convolutions, other in/out/latent channels.
nlohmann::json other_config_json() {
  return {{"in_channels", 2},
          {"out_channels", 5},
          {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"}},
          {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"}},
          {"block_out_channels", {16, 24, 32}},
          {"layers_per_block", 2},
          {"latent_channels", 6},
          {"norm_num_groups", 8},
          {"use_quant_conv", false},
          {"use_post_quant_conv", false}};
}

// Random weights under diffusers' state_dict keys, laid out independently of
// the model code from diffusers' Encoder/Decoder structure.
class RandomVae {
 public:
  RandomVae(const AutoencoderKLConfig& config, bool with_encoder) {
    at::manual_seed(7);
    const auto& ch = config.block_out_channels;
    const int64_t n = static_cast<int64_t>(ch.size());
    const int64_t latent = config.latent_channels;
    if (with_encoder) {
      conv("encoder.conv_in", config.in_channels, ch.front(), 3);
      int64_t in = ch.front();
      for (int64_t i = 0; i < n; ++i) {
        const std::string block = "encoder.down_blocks." + std::to_string(i);
        for (int64_t j = 0; j < config.layers_per_block; ++j) {
          resnet(block + ".resnets." + std::to_string(j), j == 0 ? in : ch[i], ch[i]);
        }
        if (i + 1 < n)
          conv(block + ".downsamplers.0.conv", ch[i], ch[i], 3);
        in = ch[i];
      }
      mid("encoder.mid_block", ch.back(), config.mid_block_add_attention);
      norm("encoder.conv_norm_out", ch.back());
      conv("encoder.conv_out", ch.back(), 2 * latent, 3);
      if (config.use_quant_conv)
        conv("quant_conv", 2 * latent, 2 * latent, 1);
    }
    if (config.use_post_quant_conv)
      conv("post_quant_conv", latent, latent, 1);
    conv("decoder.conv_in", latent, ch.back(), 3);
    mid("decoder.mid_block", ch.back(), config.mid_block_add_attention);
    int64_t in = ch.back();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t out = ch[n - 1 - i];
      const std::string block = "decoder.up_blocks." + std::to_string(i);
      for (int64_t j = 0; j <= config.layers_per_block; ++j) {
        resnet(block + ".resnets." + std::to_string(j), j == 0 ? in : out, out);
      }
      if (i + 1 < n)
        conv(block + ".upsamplers.0.conv", out, out, 3);
      in = out;
    }
    norm("decoder.conv_norm_out", ch.front());
    conv("decoder.conv_out", ch.front(), config.out_channels, 3);
  }

  TensorMap tensors;

 private:
  void conv(const std::string& name, int64_t in, int64_t out, int64_t kernel) {
    tensors[name + ".weight"] =
        at::randn({out, in, kernel, kernel}) / std::sqrt(in * kernel * kernel);
    tensors[name + ".bias"] = 0.1 * at::randn({out});
  }
  void linear(const std::string& name, int64_t dim) {
    tensors[name + ".weight"] = at::randn({dim, dim}) / std::sqrt(dim);
    tensors[name + ".bias"] = 0.1 * at::randn({dim});
  }
  void norm(const std::string& name, int64_t channels) {
    tensors[name + ".weight"] = 1.0 + 0.1 * at::randn({channels});
    tensors[name + ".bias"] = 0.1 * at::randn({channels});
  }
  void resnet(const std::string& name, int64_t in, int64_t out) {
    norm(name + ".norm1", in);
    conv(name + ".conv1", in, out, 3);
    norm(name + ".norm2", out);
    conv(name + ".conv2", out, out, 3);
    if (in != out)
      conv(name + ".conv_shortcut", in, out, 1);
  }
  void mid(const std::string& name, int64_t channels, bool attention) {
    resnet(name + ".resnets.0", channels, channels);
    if (attention) {
      norm(name + ".attentions.0.group_norm", channels);
      for (const char* proj : {"to_q", "to_k", "to_v", "to_out.0"}) {
        linear(name + ".attentions.0." + proj, channels);
      }
    }
    resnet(name + ".resnets.1", channels, channels);
  }
};

io::Weights map_weights(TensorMap tensors, at::ScalarType dtype = at::kFloat) {
  return io::Weights(std::make_shared<io::TensorMapWeights>(std::move(tensors), "random vae"),
                     dtype);
}

// The golden vector's weights with their "w." prefix removed.
TensorMap golden_tensors() {
  const auto file = io::SafetensorsWeights::open_file(kGolden);
  TensorMap tensors;
  for (const auto& key : file->keys()) {
    if (key.rfind("w.", 0) == 0)
      tensors[key.substr(2)] = file->load(key).clone();
  }
  return tensors;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

class AutoencoderKLTest : public ::testing::Test {
 protected:
  compat::InferenceGuard no_grad_;
};

TEST_F(AutoencoderKLTest, GoldenVaeTinyMatchesDiffusers) {
  ASSERT_EQ(io::ReferenceVector(kGolden).output_names().size(), 3u);
  xdit::testing::expect_matches_reference(kGolden);
}

TEST_F(AutoencoderKLTest, DecoderOnlyBuildSkipsEncoderKeys) {
  const io::ReferenceVector vector(kGolden);
  const io::Weights weights = vector.weights();
  const AutoencoderKL vae(AutoencoderKLConfig::from_config(vector.config()), weights,
                          AutoencoderKL::Parts::kDecoder);
  EXPECT_NO_THROW(weights.expect_all_used());
  EXPECT_FALSE(vae.has_encoder());
  EXPECT_LE(max_abs_diff(vae.decode(vector.input("z")), vector.output("sample")),
            xdit::testing::reference_bounds(vector).at("sample"));
  EXPECT_THROW(vae.encode(vector.input("x")), UsageError);
}

TEST_F(AutoencoderKLTest, Bfloat16RunsCloseToFloat32) {
  const io::ReferenceVector vector(kGolden);
  const AutoencoderKL vae(AutoencoderKLConfig::from_config(vector.config()),
                          vector.weights(at::kBFloat16));
  const at::Tensor sample = vae.decode(vector.input("z"));
  EXPECT_EQ(sample.scalar_type(), at::kBFloat16);
  const EncoderOutput latent = vae.encode(vector.input("x"));
  EXPECT_EQ(latent.mean.scalar_type(), at::kBFloat16);
  // Float32's rounding of each output, measured against float64, with
  // bfloat16's unit (support/rounding.hpp).
  const verify::Outputs f32 = verify::run_reference_case(vector);
  const verify::Outputs f64 = verify::run_reference_case(vector, at::kDouble);
  const auto expect_bfloat16_close = [&](const at::Tensor& out, const std::string& name) {
    EXPECT_LE(max_abs_diff(out, f64.at(name)),
              xdit::testing::measured_error_bound(f32.at(name), f64.at(name),
                                                  xdit::testing::kBFloat16Unit))
        << name;
  };
  expect_bfloat16_close(sample, "sample");
  expect_bfloat16_close(latent.mean, "latent_dist_mean");
  expect_bfloat16_close(latent.logvar, "latent_dist_logvar");
}

TEST_F(AutoencoderKLTest, LegacyAttentionNamesLoad) {
  const std::map<std::string, std::string> renames = {
      {"to_q", "query"}, {"to_k", "key"}, {"to_v", "value"}, {"to_out.0", "proj_attn"}};
  TensorMap legacy;
  for (auto& [key, tensor] : golden_tensors()) {
    std::string renamed = key;
    for (const auto& [current, old] : renames) {
      const std::string infix = ".attentions.0." + current + ".";
      const auto at = renamed.find(infix);
      if (at != std::string::npos)
        renamed.replace(at, infix.size(), ".attentions.0." + old + ".");
    }
    legacy[renamed] = tensor;
  }
  ASSERT_TRUE(legacy.count("decoder.mid_block.attentions.0.proj_attn.weight"));
  const io::ReferenceVector vector(kGolden);
  const io::Weights weights = map_weights(legacy);
  const AutoencoderKL vae(AutoencoderKLConfig::from_config(vector.config()), weights);
  EXPECT_NO_THROW(weights.expect_all_used());
  const auto bounds = xdit::testing::reference_bounds(vector);
  EXPECT_LE(max_abs_diff(vae.decode(vector.input("z")), vector.output("sample")),
            bounds.at("sample"));
  EXPECT_LE(max_abs_diff(vae.encode(vector.input("x")).mean, vector.output("latent_dist_mean")),
            bounds.at("latent_dist_mean"));
}

TEST_F(AutoencoderKLTest, OtherConfigsDecodeToTheScaledShape) {
  nlohmann::json no_attention = other_config_json();
  no_attention["mid_block_add_attention"] = false;
  no_attention["act_fn"] = "gelu";
  for (const auto& json : {other_config_json(), no_attention}) {
    const auto config = AutoencoderKLConfig::from_config(make_config(json));
    ASSERT_EQ(config.spatial_scale(), 4);
    const io::Weights weights = map_weights(RandomVae(config, /*with_encoder=*/true).tensors);
    const AutoencoderKL vae(config, weights);
    EXPECT_NO_THROW(weights.expect_all_used());

    const at::Tensor image = vae.decode(at::randn({2, 6, 5, 7}));
    EXPECT_EQ(image.sizes().vec(), std::vector<int64_t>({2, 5, 20, 28}));
    EXPECT_TRUE(image.isfinite().all().item<bool>());

    const EncoderOutput latent = vae.encode(at::randn({2, 2, 20, 28}));
    EXPECT_EQ(latent.mean.sizes().vec(), std::vector<int64_t>({2, 6, 5, 7}));
    EXPECT_EQ(latent.logvar.sizes().vec(), std::vector<int64_t>({2, 6, 5, 7}));
    EXPECT_TRUE(latent.mean.isfinite().all().item<bool>());
  }
}

TEST_F(AutoencoderKLTest, DecoderOnlyBuildNeedsNoEncoderWeights) {
  const auto config = AutoencoderKLConfig::from_config(make_config(other_config_json()));
  const io::Weights weights = map_weights(RandomVae(config, /*with_encoder=*/false).tensors);
  const AutoencoderKL vae(config, weights, AutoencoderKL::Parts::kDecoder);
  EXPECT_NO_THROW(weights.expect_all_used());
  EXPECT_EQ(vae.decode(at::randn({1, 6, 3, 4})).sizes().vec(),
            std::vector<int64_t>({1, 5, 12, 16}));
}

// Counts what goes through the seam a patch-parallel decode overrides.
class CountingOps final : public SpatialOps {
 public:
  at::Tensor conv(const at::Tensor& x, const Conv2d& layer) override {
    ++convs;
    if (layer.weight.size(-1) != 3)
      ++non_3x3_convs;
    // Row-split decoding narrows feature maps along H: they must stay NCHW.
    if (!x.is_contiguous())
      ++non_contiguous_inputs;
    return SpatialOps::conv(x, layer);
  }
  at::Tensor group_norm(const at::Tensor& x, const GroupNorm& layer) override {
    ++norms;
    return SpatialOps::group_norm(x, layer);
  }
  at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                       double scale) override {
    ++attentions;
    return SpatialOps::attention(q, k, v, scale);
  }
  int convs = 0;
  int non_3x3_convs = 0;
  int non_contiguous_inputs = 0;
  int norms = 0;
  int attentions = 0;
};

TEST_F(AutoencoderKLTest, DecoderRoutesEveryConvNormAndAttentionThroughSpatialOps) {
  const io::ReferenceVector vector(kGolden);
  const auto config = AutoencoderKLConfig::from_config(vector.config());
  const AutoencoderKL vae(config, vector.weights(), AutoencoderKL::Parts::kDecoder);
  CountingOps ops;
  const at::Tensor sample = vae.decode(vector.input("z"), ops);
  EXPECT_TRUE(sample.equal(vae.decode(vector.input("z"))));

  const int blocks = static_cast<int>(config.block_out_channels.size());
  const int resnets = 2 + blocks * static_cast<int>(config.layers_per_block + 1);
  // conv_in, two per resnet, one per upsampler, conv_out.
  EXPECT_EQ(ops.convs, 1 + 2 * resnets + (blocks - 1) + 1);
  EXPECT_EQ(ops.non_3x3_convs, 0);
  EXPECT_EQ(ops.non_contiguous_inputs, 0);
  // Two per resnet, the attention's, conv_norm_out.
  EXPECT_EQ(ops.norms, 2 * resnets + 1 + 1);
  EXPECT_EQ(ops.attentions, 1);
}

TEST_F(AutoencoderKLTest, WrongShapeOrMissingTensorNamesTheKey) {
  const auto config = AutoencoderKLConfig::from_config(make_config(other_config_json()));
  const std::string reshaped = "decoder.up_blocks.1.resnets.2.conv1.weight";
  TensorMap tensors = RandomVae(config, true).tensors;
  const auto build = [&] { const AutoencoderKL vae(config, map_weights(tensors)); };
  ASSERT_TRUE(tensors.count(reshaped));
  tensors[reshaped] = at::zeros({24, 24, 1, 1});
  std::string message = error_of(build);
  EXPECT_NE(message.find(reshaped), std::string::npos) << message;
  EXPECT_THROW(build(), WeightError);

  const std::string missing = "encoder.mid_block.attentions.0.to_k.bias";
  tensors = RandomVae(config, true).tensors;
  ASSERT_EQ(tensors.erase(missing), 1u);
  message = error_of(build);
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_THROW(build(), WeightError);
}

TEST_F(AutoencoderKLTest, KeysTheConfigDoesNotUseAreReported) {
  // The golden checkpoint has quant convolutions; a config without them
  // leaves those tensors unused.
  const io::ReferenceVector vector(kGolden);
  nlohmann::json json = vector.config().json();
  json["use_post_quant_conv"] = false;
  const io::Weights weights = vector.weights();
  const AutoencoderKL vae(AutoencoderKLConfig::from_config(make_config(json)), weights);
  const std::string message = error_of([&] { weights.expect_all_used(); });
  EXPECT_NE(message.find("post_quant_conv.weight"), std::string::npos) << message;
}

TEST_F(AutoencoderKLTest, RejectsInputsOfOtherChannelCounts) {
  const io::ReferenceVector vector(kGolden);
  const AutoencoderKL vae(AutoencoderKLConfig::from_config(vector.config()), vector.weights());
  EXPECT_THROW(vae.decode(at::randn({1, 3, 8, 8})), UsageError);
  EXPECT_THROW(vae.decode(at::randn({4, 8, 8})), UsageError);
  EXPECT_THROW(vae.encode(at::randn({1, 4, 16, 16})), UsageError);
}

TEST(AutoencoderKLConfig, MissingKeysTakeDiffusersDefaults) {
  const auto config = AutoencoderKLConfig::from_config(make_config(nlohmann::json::object()));
  EXPECT_EQ(config.in_channels, 3);
  EXPECT_EQ(config.out_channels, 3);
  EXPECT_EQ(config.block_out_channels, std::vector<int64_t>{64});
  EXPECT_EQ(config.down_block_types, std::vector<std::string>{"DownEncoderBlock2D"});
  EXPECT_EQ(config.up_block_types, std::vector<std::string>{"UpDecoderBlock2D"});
  EXPECT_EQ(config.layers_per_block, 1);
  EXPECT_EQ(config.act_fn, Activation::kSilu);
  EXPECT_EQ(config.latent_channels, 4);
  EXPECT_EQ(config.norm_num_groups, 32);
  EXPECT_DOUBLE_EQ(config.scaling_factor, 0.18215);
  EXPECT_FALSE(config.shift_factor.has_value());
  EXPECT_TRUE(config.use_quant_conv);
  EXPECT_TRUE(config.use_post_quant_conv);
  EXPECT_TRUE(config.mid_block_add_attention);
  EXPECT_TRUE(config.force_upcast);
  EXPECT_EQ(config.spatial_scale(), 1);
}

TEST(AutoencoderKLConfig, ReadsEverySetting) {
  nlohmann::json json = other_config_json();
  json["act_fn"] = "Swish";
  json["scaling_factor"] = 1.5305;
  json["shift_factor"] = 0.0609;
  json["force_upcast"] = false;
  json["mid_block_add_attention"] = false;
  const auto config = AutoencoderKLConfig::from_config(make_config(json));
  EXPECT_EQ(config.in_channels, 2);
  EXPECT_EQ(config.out_channels, 5);
  EXPECT_EQ(config.block_out_channels, (std::vector<int64_t>{16, 24, 32}));
  EXPECT_EQ(config.layers_per_block, 2);
  EXPECT_EQ(config.act_fn, Activation::kSilu);
  EXPECT_EQ(config.latent_channels, 6);
  EXPECT_EQ(config.norm_num_groups, 8);
  EXPECT_DOUBLE_EQ(config.scaling_factor, 1.5305);
  ASSERT_TRUE(config.shift_factor.has_value());
  EXPECT_DOUBLE_EQ(*config.shift_factor, 0.0609);
  EXPECT_FALSE(config.use_quant_conv);
  EXPECT_FALSE(config.use_post_quant_conv);
  EXPECT_FALSE(config.mid_block_add_attention);
  EXPECT_FALSE(config.force_upcast);
  EXPECT_EQ(config.spatial_scale(), 4);
}

TEST(AutoencoderKLConfig, RejectsUnsupportedValuesNamingTheKey) {
  const std::vector<std::pair<std::string, nlohmann::json>> cases = {
      {"down_block_types", {"DownEncoderBlock2D", "AttnDownEncoderBlock2D", "DownEncoderBlock2D"}},
      {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D", "AttnUpDecoderBlock2D"}},
      {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}},
      {"block_out_channels", {16, 20, 32}},
      {"block_out_channels", nlohmann::json::array()},
      {"norm_num_groups", 0},
      {"layers_per_block", 0},
      {"latent_channels", 0},
      {"act_fn", "tanh"},
      {"layers_per_block", "two"},
      {"use_quant_conv", 1},
  };
  for (const auto& [key, value] : cases) {
    nlohmann::json json = other_config_json();
    json[key] = value;
    const std::string message =
        error_of([&] { AutoencoderKLConfig::from_config(make_config(json)); });
    EXPECT_NE(message.find("'" + key + "'"), std::string::npos)
        << key << " = " << value.dump() << ": " << message;
    EXPECT_THROW(AutoencoderKLConfig::from_config(make_config(json)), ConfigError) << key;
  }
}

}  // namespace
}  // namespace xdit::models
