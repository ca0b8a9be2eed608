// Built-in PixArt pipelines of any transformer shape, and the parameter
// bytes a transformer (or its stage or tensor shard) reports holding.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "io/model_folder.hpp"
#include "io/synthetic_weights.hpp"
#include "models/pixart_transformer.hpp"
#include "pipelines/builtin_models.hpp"
#include "temp_folder.hpp"

namespace xdit::pipelines {
namespace {

constexpr BuiltinPixArtShape kSmallShape{2, 2, 16, 16};

class NoSums final : public models::PartialSums {
 public:
  void sum_(at::Tensor&) override {}
};

int64_t stored_bytes(const io::WeightSource& source) {
  int64_t bytes = 0;
  for (const auto& key : source.keys())
    bytes += static_cast<int64_t>(source.load(key).nbytes());
  return bytes;
}

TEST(BuiltinPixArt, BenchModelIsListed) {
  const auto names = builtin_model_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "builtin:tiny-pixart"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "builtin:bench-pixart"), names.end());
  EXPECT_EQ(kBenchPixArtShape.num_layers, 12);
  EXPECT_EQ(kBenchPixArtShape.num_attention_heads * kBenchPixArtShape.attention_head_dim, 384);
}

TEST(BuiltinPixArt, WritesTheTransformerShapeAsked) {
  const testing::TempFolder temp;
  const auto root = temp / "small";
  write_builtin_pixart(root, kSmallShape);
  const io::ModelFolder folder(root);
  const auto config = models::PixArtConfig::from_config(folder.config("transformer"));
  EXPECT_EQ(config.num_layers, 2);
  EXPECT_EQ(config.num_attention_heads, 2);
  EXPECT_EQ(config.attention_head_dim, 16);
  EXPECT_EQ(config.cross_attention_dim, 32);
  EXPECT_EQ(config.sample_size, 16);

  // The whole model holds every stored tensor.
  const auto source = folder.weights("transformer");
  const io::Weights weights(source, at::kFloat);
  const models::PixArtTransformer whole(config, weights);
  weights.expect_all_used();
  EXPECT_EQ(whole.parameter_bytes(), stored_bytes(*source));
  EXPECT_EQ(weights.bytes_handed_out(), whole.parameter_bytes());
}

TEST(BuiltinPixArt, StagesAndShardsHoldTheirPart) {
  auto source = std::make_shared<io::SyntheticWeights>(7, "parameter bytes");
  models::PixArtConfig config;
  config.num_attention_heads = 4;
  config.attention_head_dim = 8;
  config.cross_attention_dim = 32;
  config.num_layers = 4;
  config.sample_size = 16;
  config.caption_channels = 24;
  config.use_additional_conditions = false;
  const models::PixArtTransformer whole(config, io::Weights(source, at::kFloat));
  EXPECT_EQ(whole.parameter_bytes(), stored_bytes(*source));

  NoSums sums;
  const models::PixArtTransformer shard0(config, io::Weights(source, at::kFloat), {},
                                         models::TensorShard{0, 2, &sums});
  const models::PixArtTransformer shard1(config, io::Weights(source, at::kFloat), {},
                                         models::TensorShard{1, 2, &sums});
  EXPECT_EQ(shard0.parameter_bytes(), shard1.parameter_bytes());
  // Heads and feed-forward width halve; conditioning, input and output
  // layers and the row-sharded biases stay whole.
  EXPECT_GT(shard0.parameter_bytes(), whole.parameter_bytes() / 2);
  EXPECT_LT(shard0.parameter_bytes(), whole.parameter_bytes() * 3 / 4);

  const models::PixArtTransformer first(config, io::Weights(source, at::kFloat),
                                        {0, 2, true, false});
  const models::PixArtTransformer last(config, io::Weights(source, at::kFloat),
                                       {2, std::nullopt, false, true});
  EXPECT_LT(first.parameter_bytes(), whole.parameter_bytes());
  // Both stages hold the conditioning: the two together hold it twice.
  EXPECT_GT(first.parameter_bytes() + last.parameter_bytes(), whole.parameter_bytes());

  const models::PixArtTransformer half_precision(config, io::Weights(source, at::kBFloat16));
  EXPECT_EQ(half_precision.parameter_bytes() * 2, whole.parameter_bytes());
}

}  // namespace
}  // namespace xdit::pipelines
