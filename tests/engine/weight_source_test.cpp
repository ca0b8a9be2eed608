#include "io/weight_source.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "io/config.hpp"
#include "io/safetensors_writer.hpp"
#include "temp_folder.hpp"

namespace xdit::io {
namespace {

using xdit::testing::contains;
using xdit::testing::error_message;
using xdit::testing::TempFolder;

// Two shards and their index, written by hand as the Hub has them.
struct TwoShards {
  std::filesystem::path index;
  std::filesystem::path first;
  std::filesystem::path second;
};

TwoShards write_two_shards(const TempFolder& folder) {
  TwoShards shards{folder / "model.safetensors.index.json",
                   folder / "model-00001-of-00002.safetensors",
                   folder / "model-00002-of-00002.safetensors"};
  write_safetensors(shards.first, {{"a.weight", at::full({2, 3}, 1.0f)}});
  write_safetensors(shards.second,
                    {{"b.weight", at::full({4}, 2.0f)}, {"b.bias", at::full({4}, 3.0f)}});
  write_json_file(shards.index, {{"metadata", {{"total_size", 56}}},
                                 {"weight_map",
                                  {{"a.weight", shards.first.filename().string()},
                                   {"b.weight", shards.second.filename().string()},
                                   {"b.bias", shards.second.filename().string()}}}});
  return shards;
}

TEST(SafetensorsWeights, LoadsAcrossTwoShards) {
  TempFolder folder;
  const TwoShards shards = write_two_shards(folder);
  const auto weights = SafetensorsWeights::open_index(shards.index);
  EXPECT_EQ(weights->keys(), (std::vector<std::string>{"a.weight", "b.bias", "b.weight"}));
  EXPECT_TRUE(at::equal(weights->load("a.weight"), at::full({2, 3}, 1.0f)));
  EXPECT_TRUE(at::equal(weights->load("b.bias"), at::full({4}, 3.0f)));
  EXPECT_EQ(weights->shape("b.weight"), (std::vector<int64_t>{4}));
  EXPECT_EQ(weights->location("a.weight"), shards.first.string());
  EXPECT_EQ(weights->location("b.weight"), shards.second.string());
  EXPECT_EQ(weights->describe(), shards.index.string());
  EXPECT_EQ(SafetensorsWeights::open(shards.index)->keys().size(), 3u);
  EXPECT_EQ(SafetensorsWeights::open(shards.first)->keys().size(), 1u);
}

TEST(SafetensorsWeights, WrittenShardsReadBack) {
  TempFolder folder;
  const NamedTensors tensors = {{"x", at::arange(8, at::kFloat)},
                                {"y", at::arange(8, at::kFloat)},
                                {"z", at::arange(2, at::kFloat)}};
  const auto index = folder / "diffusion_pytorch_model.safetensors.index.json";
  const auto paths =
      write_sharded_safetensors(index, "diffusion_pytorch_model", tensors, /*max_shard_bytes=*/40);
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[0].filename(), "diffusion_pytorch_model-00001-of-00002.safetensors");
  const auto weights = SafetensorsWeights::open_index(index);
  for (const auto& [name, tensor] : tensors)
    EXPECT_TRUE(at::equal(weights->load(name), tensor));
  EXPECT_EQ(weights->location("z"), paths[1].string());
  EXPECT_EQ(read_json_file(index)["metadata"]["total_size"], 72);
}

TEST(SafetensorsWeights, MissingShardIsAFileErrorNamingIt) {
  TempFolder folder;
  const TwoShards shards = write_two_shards(folder);
  std::filesystem::remove(shards.second);
  const std::string message =
      error_message<FileError>([&] { SafetensorsWeights::open_index(shards.index); });
  EXPECT_TRUE(contains(message, shards.second.string())) << message;
  EXPECT_TRUE(contains(message, "missing")) << message;
}

TEST(SafetensorsWeights, KeyMissingFromItsShardIsAnError) {
  TempFolder folder;
  const TwoShards shards = write_two_shards(folder);
  write_safetensors(shards.second, {{"b.weight", at::full({4}, 2.0f)}});
  const std::string message =
      error_message<FileError>([&] { SafetensorsWeights::open_index(shards.index); });
  EXPECT_TRUE(contains(message, shards.second.string())) << message;
  EXPECT_TRUE(contains(message, "'b.bias'")) << message;
}

TEST(SafetensorsWeights, TensorInTwoShardsIsAnError) {
  TempFolder folder;
  const TwoShards shards = write_two_shards(folder);
  write_safetensors(shards.first,
                    {{"a.weight", at::full({2, 3}, 1.0f)}, {"b.bias", at::ones({4})}});
  const std::string message =
      error_message<FileError>([&] { SafetensorsWeights::open_index(shards.index); });
  EXPECT_TRUE(contains(message, "'b.bias'")) << message;
}

TEST(SafetensorsWeights, StrayTensorInAShardIsAKey) {
  TempFolder folder;
  const TwoShards shards = write_two_shards(folder);
  write_safetensors(shards.first, {{"a.weight", at::full({2, 3}, 1.0f)}, {"stray", at::ones({1})}});
  const auto weights = SafetensorsWeights::open_index(shards.index);
  EXPECT_TRUE(weights->contains("stray"));
}

TEST(SafetensorsWeights, MalformedIndexIsAConfigError) {
  TempFolder folder;
  const auto index = folder / "model.safetensors.index.json";
  write_safetensors(folder / "s.safetensors", {{"a", at::ones({1})}});
  for (const auto& json : {nlohmann::ordered_json{{"metadata", {}}},
                           nlohmann::ordered_json{{"weight_map", nlohmann::json::object()}},
                           nlohmann::ordered_json{{"weight_map", {{"a", 3}}}},
                           nlohmann::ordered_json{{"weight_map", {{"a", "../s.safetensors"}}}},
                           nlohmann::ordered_json{{"weight_map", {{"a", "/etc/passwd"}}}}}) {
    write_json_file(index, json);
    const std::string message =
        error_message<ConfigError>([&] { SafetensorsWeights::open_index(index); });
    EXPECT_TRUE(contains(message, index.string())) << message;
  }
}

// --------------------------------------------------------------------- Weights

class WeightsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = folder_ / "model.safetensors";
    write_safetensors(path_, {{"proj.weight", at::arange(24, at::kFloat).reshape({6, 4})},
                              {"proj.bias", at::arange(6, at::kHalf)},
                              {"norm.weight", at::ones({4})}});
    source_ = SafetensorsWeights::open_file(path_);
  }

  TempFolder folder_;
  std::filesystem::path path_;
  std::shared_ptr<SafetensorsWeights> source_;
};

TEST_F(WeightsTest, GetsTensorsUnderAPrefixInTheModelDtype) {
  const Weights weights(source_, at::kFloat);
  const Weights proj = weights.sub("proj");
  EXPECT_EQ(proj.prefix(), "proj.");
  const at::Tensor bias = proj.get("bias", {6});
  EXPECT_EQ(bias.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(bias, at::arange(6, at::kFloat)));
  EXPECT_TRUE(proj.get_optional("weight", {6, 4}).has_value());
  EXPECT_FALSE(proj.get_optional("scale", {6}).has_value());
}

TEST_F(WeightsTest, MissingKeyNamesFileKeyAndExpectedShape) {
  const Weights weights(source_, at::kFloat);
  const std::string message =
      error_message<WeightError>([&] { weights.sub("proj").get("scale", {6}); });
  EXPECT_TRUE(contains(message, path_.string())) << message;
  EXPECT_TRUE(contains(message, "'proj.scale'")) << message;
  EXPECT_TRUE(contains(message, "[6]")) << message;
}

TEST_F(WeightsTest, WrongShapeNamesFileKeyExpectedAndFound) {
  const Weights weights(source_, at::kFloat);
  const std::string message = error_message<WeightError>([&] {
    weights.get("proj.weight", {4, 6});
  });
  EXPECT_TRUE(contains(message, path_.string())) << message;
  EXPECT_TRUE(contains(message, "'proj.weight'")) << message;
  EXPECT_TRUE(contains(message, "[6, 4]")) << message;
  EXPECT_TRUE(contains(message, "[4, 6]")) << message;
  // A wrong shape of an optional tensor is still an error.
  EXPECT_THROW(weights.get_optional("norm.weight", {5}), WeightError);
}

TEST_F(WeightsTest, UnexpectedKeysAreReportedAfterBuilding) {
  const Weights weights(source_, at::kFloat);
  weights.get("proj.weight", {6, 4});
  weights.sub("proj").get("bias", {6});
  const std::string message = error_message<WeightError>([&] { weights.expect_all_used(); });
  EXPECT_TRUE(contains(message, path_.string())) << message;
  EXPECT_TRUE(contains(message, "norm.weight")) << message;
  EXPECT_FALSE(contains(message, "proj.weight")) << message;
  // Only keys under a view's own prefix concern it.
  EXPECT_NO_THROW(weights.sub("proj").expect_all_used());
  weights.skip("norm");
  EXPECT_NO_THROW(weights.expect_all_used());
}

TEST_F(WeightsTest, GetShardLoadsTheRightSlice) {
  const Weights weights(source_, at::kFloat);
  const at::Tensor full = at::arange(24, at::kFloat).reshape({6, 4});
  for (int64_t index = 0; index < 3; ++index) {
    EXPECT_TRUE(at::equal(weights.get_shard("proj.weight", {6, 4}, 0, index, 3),
                          full.narrow(0, 2 * index, 2)));
  }
  const at::Tensor column_shard = weights.get_shard("proj.weight", {6, 4}, 1, 1, 2);
  EXPECT_TRUE(column_shard.is_contiguous());
  EXPECT_TRUE(at::equal(column_shard, full.narrow(1, 2, 2)));
  const at::Tensor half_shard = weights.get_shard("proj.bias", {6}, 0, 1, 2);
  EXPECT_EQ(half_shard.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(half_shard, at::arange(3, 6, at::kFloat)));
}

TEST_F(WeightsTest, GetShardRejectsImpossibleSplits) {
  const Weights weights(source_, at::kFloat);
  EXPECT_THROW(weights.get_shard("proj.weight", {6, 4}, 0, 0, 4), WeightError);  // 6 % 4
  EXPECT_THROW(weights.get_shard("proj.weight", {6, 4}, 2, 0, 2), WeightError);  // no dim 2
  EXPECT_THROW(weights.get_shard("proj.weight", {6, 4}, -1, 0, 2), WeightError);
  EXPECT_THROW(weights.get_shard("proj.weight", {6, 4}, 0, 0, 0), WeightError);  // count 0
  EXPECT_THROW(weights.get_shard("proj.weight", {6, 4}, 0, 2, 2), WeightError);  // index
  EXPECT_THROW(weights.get_shard("proj.weight", {4, 6}, 0, 0, 2), WeightError);  // shape
}

TEST(TensorMapWeights, ServesTensorsFromMemory) {
  auto source = std::make_shared<TensorMapWeights>(
      std::map<std::string, at::Tensor>{{"w", at::ones({2, 2})}}, "built-in model");
  const Weights weights(source, at::kDouble);
  EXPECT_EQ(weights.get("w", {2, 2}).scalar_type(), at::kDouble);
  const std::string message = error_message<WeightError>([&] { weights.get("v", {1}); });
  EXPECT_TRUE(contains(message, "built-in model") && contains(message, "'v'")) << message;
}

}  // namespace
}  // namespace xdit::io
