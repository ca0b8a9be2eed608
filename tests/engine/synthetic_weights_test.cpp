#include "io/synthetic_weights.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.hpp"

namespace xdit::io {
namespace {

TEST(SyntheticWeights, MakesWhatAModelAsksForDeterministically) {
  auto first = std::make_shared<SyntheticWeights>(7);
  const Weights weights(first, at::kFloat);
  const at::Tensor w = weights.sub("proj").get("weight", {4, 16});
  EXPECT_TRUE(weights.sub("proj").get("bias", {4}).eq(0).all().item<bool>());
  EXPECT_TRUE(weights.sub("norm").get("weight", {16}).eq(1).all().item<bool>());
  EXPECT_NEAR(w.std().item<double>(), 0.25, 0.15);  // 1/sqrt(fan_in 16)
  weights.expect_all_used();

  // The same key gives the same tensor whatever else was asked before it.
  auto second = std::make_shared<SyntheticWeights>(7);
  const Weights other(second, at::kFloat);
  other.get("unrelated", {3, 3});
  EXPECT_TRUE(other.sub("proj").get("weight", {4, 16}).equal(w));
  EXPECT_EQ(second->tensors().size(), 2u);

  auto reseeded = std::make_shared<SyntheticWeights>(8);
  EXPECT_FALSE(Weights(reseeded, at::kFloat).sub("proj").get("weight", {4, 16}).equal(w));
}

TEST(SyntheticWeights, ShapeIsFixedByTheFirstRequest) {
  auto source = std::make_shared<SyntheticWeights>(1);
  const Weights weights(source, at::kFloat);
  weights.get("w", {2, 3});
  EXPECT_THROW(weights.get("w", {3, 2}), xdit::WeightError);
}

}  // namespace
}  // namespace xdit::io
