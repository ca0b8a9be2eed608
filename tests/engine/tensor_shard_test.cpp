#include "models/tensor_shard.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "models/transformer_block.hpp"
#include "support/rounding.hpp"

namespace xdit::models {
namespace {

// Keeps each shard's partial product as it is, so that a test can add the
// shards up itself: row_forward then returns partial + bias.
class KeepPartials final : public PartialSums {
 public:
  void sum_(at::Tensor& /*partial*/) override { ++calls; }
  int calls = 0;
};

std::shared_ptr<io::TensorMapWeights> random_weights(
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [key, shape] : shapes)
    tensors[key] = at::randn(shape, generator);
  return std::make_shared<io::TensorMapWeights>(std::move(tensors), "random");
}

TEST(TensorShard, FeedForwardShardsHoldTheirSliceAndSumToTheWhole) {
  const int64_t dim = 8;
  const int64_t hidden = 32;
  const auto source = random_weights({{"net.0.proj.weight", {hidden, dim}},
                                      {"net.0.proj.bias", {hidden}},
                                      {"net.2.weight", {dim, hidden}},
                                      {"net.2.bias", {dim}}});
  const FeedForward whole = FeedForward::load(io::Weights(source, at::kFloat), dim, hidden,
                                              FeedForwardActivation::kGeluTanh);
  const at::Tensor x = at::randn({2, 5, dim});
  KeepPartials sums;
  at::Tensor summed = at::zeros({2, 5, dim});
  for (int64_t index = 0; index < 2; ++index) {
    const io::Weights weights(source, at::kFloat);
    const FeedForward shard = FeedForward::load(
        weights, dim, hidden, FeedForwardActivation::kGeluTanh, true, TensorShard{index, 2, &sums});
    weights.expect_all_used();
    EXPECT_EQ(shard.proj_in.weight.sizes(), (std::vector<int64_t>{hidden / 2, dim}));
    EXPECT_EQ(shard.proj_out.weight.sizes(), (std::vector<int64_t>{dim, hidden / 2}));
    EXPECT_TRUE(at::equal(shard.proj_in.weight, whole.proj_in.weight.narrow(0, index * 16, 16)));
    EXPECT_TRUE(at::equal(shard.proj_out.weight, whole.proj_out.weight.narrow(1, index * 16, 16)));
    summed += shard(x) - whole.proj_out.bias;
  }
  EXPECT_EQ(sums.calls, 2);
  // Two float32 evaluations of W2 gelu(W1 x + b1) + b2 that sum the hidden
  // units in different orders: each within float32's bound of the exact
  // value, i.e. the hidden layer's carried through gelu (slope below 1.13)
  // and the output layer's, with the tanh form of gelu (8 roundings) and
  // the shards' and this test's own sums (6) as extra roundings.
  using xdit::testing::linear_bound;
  const at::Tensor hidden_bound = linear_bound(x, whole.proj_in.weight, whole.proj_in.bias) * 1.13;
  const at::Tensor gelu =
      at::gelu(at::linear(x.to(at::kDouble), whole.proj_in.weight.to(at::kDouble),
                          whole.proj_in.bias.to(at::kDouble)),
               "tanh");
  const at::Tensor bound =
      linear_bound(gelu, whole.proj_out.weight, whole.proj_out.bias, 8 + 6) +
      at::matmul(hidden_bound, whole.proj_out.weight.to(at::kDouble).abs().t());
  EXPECT_LE(xdit::testing::bound_ratio(summed + whole.proj_out.bias, whole(x), 2 * bound), 1.0);
}

TEST(TensorShard, AttentionShardsHoldWholeHeads) {
  const auto source = random_weights({{"to_q.weight", {12, 6}},
                                      {"to_k.weight", {12, 6}},
                                      {"to_v.weight", {12, 6}},
                                      {"to_out.0.weight", {6, 12}},
                                      {"to_out.0.bias", {6}}});
  const io::Weights weights(source, at::kFloat);
  KeepPartials sums;
  const auto attn = AttentionProjections::load(weights, 6, 6, /*heads=*/4, /*head_dim=*/3,
                                               /*qkv_bias=*/false, true, TensorShard{1, 2, &sums});
  EXPECT_EQ(attn.heads, 2);
  EXPECT_EQ(attn.to_q.weight.sizes(), (std::vector<int64_t>{6, 6}));
  EXPECT_EQ(attn.to_out.weight.sizes(), (std::vector<int64_t>{6, 6}));
  EXPECT_EQ(attn.split_heads(at::zeros({1, 5, 6})).sizes(), (std::vector<int64_t>{1, 2, 5, 3}));
  try {
    AttentionProjections::load(weights, 6, 6, 4, 3, false, true, TensorShard{0, 3, &sums});
    FAIL() << "expected a UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("4 attention heads"), std::string::npos) << e.what();
  }
}

TEST(TensorShard, UnsplitIsTheWholeLayer) {
  const auto source = random_weights({{"weight", {4, 3}}, {"bias", {4}}});
  const io::Weights weights(source, at::kFloat);
  const TensorShard whole;
  const Linear linear = whole.load_row(weights, 3, 4);
  const at::Tensor x = at::randn({2, 3});
  EXPECT_TRUE(at::equal(whole.row_forward(linear, x), linear(x)));
  EXPECT_THROW(TensorShard({0, 2, nullptr}).part(4, "heads"), UsageError);
}

}  // namespace
}  // namespace xdit::models
