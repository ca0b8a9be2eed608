#include "bench/op_breakdown.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "models/attention.hpp"

namespace xdit::bench {
namespace {

double seconds_of(const OpBreakdown& breakdown, OpKind kind) {
  return breakdown.seconds()[static_cast<size_t>(kind)];
}

TEST(OpBreakdown, ClassifiesOpsByName) {
  EXPECT_EQ(classify_op("aten::linear"), OpKind::kLinear);
  EXPECT_EQ(classify_op("aten::addmm"), OpKind::kLinear);
  EXPECT_EQ(classify_op("xdit::attention"), OpKind::kAttention);
  EXPECT_EQ(classify_op("aten::layer_norm"), OpKind::kNormModulation);
  EXPECT_EQ(classify_op("aten::mul"), OpKind::kNormModulation);
  EXPECT_EQ(classify_op("aten::gelu"), OpKind::kActivation);
  EXPECT_EQ(classify_op("aten::copy_"), OpKind::kCopyLayout);
  EXPECT_EQ(classify_op("aten::conv2d"), OpKind::kOther);
  EXPECT_EQ(classify_op("my::linear"), OpKind::kOther);
}

TEST(OpBreakdown, TimesOutermostOpsOfThisThreadOnly) {
  const at::Tensor x = at::randn({256, 256});
  const at::Tensor w = at::randn({256, 256});
  const at::Tensor q = at::randn({1, 2, 64, 16});
  OpBreakdown breakdown;
  for (int i = 0; i < 4; ++i) {
    at::linear(x, w);  // its inner addmm/mm must not count a second time
    at::gelu(x);
    models::attention(q, q, q, {}, 0.25);
  }
  EXPECT_GT(seconds_of(breakdown, OpKind::kLinear), 0);
  EXPECT_GT(seconds_of(breakdown, OpKind::kActivation), 0);
  EXPECT_GT(seconds_of(breakdown, OpKind::kAttention), 0);
  // The attention kernel's own ATen calls (empty, to) belong to it.
  EXPECT_EQ(seconds_of(breakdown, OpKind::kCopyLayout), 0);
  EXPECT_THROW(OpBreakdown second, UsageError);
}

TEST(OpBreakdown, StopsObservingWhenDestroyed) {
  const at::Tensor x = at::randn({64, 64});
  { OpBreakdown first; }
  OpBreakdown fresh;
  EXPECT_EQ(fresh.total_seconds(), 0);
  fresh.reset();
  at::mm(x, x);
  EXPECT_GT(fresh.total_seconds(), 0);
}

}  // namespace
}  // namespace xdit::bench
