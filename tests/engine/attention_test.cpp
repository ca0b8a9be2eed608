#include "models/attention.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "models/attention_kernel.hpp"
#include "support/attention_reference.hpp"
#include "support/rounding.hpp"

namespace xdit::models {
namespace {

using xdit::testing::attention_reference;
using xdit::testing::AttentionReference;
using xdit::testing::bound_ratio;

constexpr float kInf = std::numeric_limits<float>::infinity();

// Every element of a float32 result within the rounding bound of the float64
// reference (support/attention_reference.hpp): bound_ratio at most 1.
void expect_within(const PartialAttention& got, const AttentionReference& want) {
  EXPECT_LE(bound_ratio(got.out, want.out, want.out_bound), 1.0);
  EXPECT_LE(bound_ratio(got.lse, want.lse, want.lse_bound), 1.0);
}

struct Shape {
  int64_t batch, heads, lq, lk, dim;
};

std::vector<Shape> shapes() {
  return {{1, 1, 1, 1, 1},       {2, 3, 5, 7, 4},      {1, 2, 17, 33, 8},
          {2, 2, 64, 31, 16},    {1, 1, 300, 4099, 8},  // many key chunks
          {1, 3, 1200, 600, 12},                        // several query blocks
          {2, 16, 40, 120, 72}};
}

class AttentionTest : public ::testing::Test {
 protected:
  void SetUp() override { at::manual_seed(7); }
  c10::InferenceMode inference_;
};

void expect_matches_naive(const Shape& s, const at::Tensor& bias, double scale) {
  const at::Tensor q = at::randn({s.batch, s.heads, s.lq, s.dim});
  const at::Tensor k = at::randn({s.batch, s.heads, s.lk, s.dim});
  const at::Tensor v = at::randn({s.batch, s.heads, s.lk, s.dim});
  const PartialAttention got = attention_partial(q, k, v, bias, scale);
  SCOPED_TRACE(::testing::Message() << "B " << s.batch << " H " << s.heads << " Lq " << s.lq
                                    << " Lk " << s.lk << " D " << s.dim);
  EXPECT_EQ(got.out.sizes(), q.sizes());
  EXPECT_EQ(got.out.scalar_type(), at::kFloat);
  EXPECT_EQ(got.lse.sizes(), (std::vector<int64_t>{s.batch, s.heads, s.lq}));
  expect_within(got, attention_reference(q, k, v, bias, scale));
}

TEST_F(AttentionTest, MatchesNaiveWithoutBias) {
  for (const Shape& s : shapes())
    expect_matches_naive(s, {}, 1.0 / std::sqrt(s.dim));
}

TEST_F(AttentionTest, MatchesNaiveWithMaskBias) {
  for (const Shape& s : shapes()) {
    // A [B, 1, 1, Lk] keep-mask bias as the PixArt pipeline builds it.
    const at::Tensor keep = at::rand({s.batch, 1, 1, s.lk}) < 0.7;
    keep.select(3, 0).fill_(true);
    const at::Tensor bias = (1 - keep.to(at::kFloat)) * -10000.0;
    expect_matches_naive(s, bias, 1.0 / std::sqrt(s.dim));
  }
}

TEST_F(AttentionTest, MatchesNaiveWithPositionBias) {
  for (const Shape& s : shapes()) {
    // T5: a [1, H, Lq, Lk] bias and no scaling.
    expect_matches_naive(s, at::randn({1, s.heads, s.lq, s.lk}), 1.0);
  }
}

TEST_F(AttentionTest, ReadsHeadViewsOfProjectionsInPlace) {
  // q, k, v as the heads of [B, L, H * D] projections, the model's layout.
  const int64_t batch = 2, heads = 4, lq = 70, lk = 50, dim = 8;
  const at::Tensor q = at::randn({batch, lq, heads, dim}).transpose(1, 2);
  const at::Tensor kv = at::randn({batch, lk, 2, heads, dim});
  const at::Tensor k = kv.select(2, 0).transpose(1, 2);
  const at::Tensor v = kv.select(2, 1).transpose(1, 2);
  const at::Tensor bias =
      at::randn({batch, heads, lq, lk}).transpose(2, 3).contiguous().transpose(2, 3);
  const at::Tensor out = attention(q, k, v, bias, 0.3);
  const AttentionReference want = attention_reference(q, k, v, bias, 0.3);
  EXPECT_LE(bound_ratio(out, want.out, want.out_bound), 1.0);
  // The output keeps q's layout, so merging heads needs no copy.
  EXPECT_TRUE(out.transpose(1, 2).is_contiguous());
}

TEST_F(AttentionTest, ValueDimensionMayDifferFromKeyDimension) {
  const at::Tensor q = at::randn({1, 2, 9, 6});
  const at::Tensor k = at::randn({1, 2, 11, 6});
  const at::Tensor v = at::randn({1, 2, 11, 5});
  const at::Tensor out = attention(q, k, v, {}, 0.4);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 2, 9, 5}));
  const AttentionReference want = attention_reference(q, k, v, {}, 0.4);
  EXPECT_LE(bound_ratio(out, want.out, want.out_bound), 1.0);
}

TEST_F(AttentionTest, MergeOfTwoKeyHalvesEqualsWhole) {
  for (const int64_t lk : {10, 257, 5000}) {
    const at::Tensor q = at::randn({2, 3, 33, 16});
    const at::Tensor k = at::randn({2, 3, lk, 16});
    const at::Tensor v = at::randn({2, 3, lk, 16});
    const at::Tensor bias = at::randn({1, 3, 33, lk});
    const int64_t half = lk / 2 + 1;
    const auto part = [&](int64_t start, int64_t length) {
      return attention_partial(q, k.narrow(2, start, length), v.narrow(2, start, length),
                               bias.narrow(3, start, length), 0.25);
    };
    SCOPED_TRACE(::testing::Message() << "Lk " << lk);
    // Both are float32 evaluations of the same attention, each within its
    // bound of the float64 one, so within their sum of each other.
    expect_within(attention_partial(q, k, v, bias, 0.25), attention_reference(q, k, v, bias, 0.25));
    expect_within(merge_partial(part(0, half), part(half, lk - half)),
                  attention_reference(q, k, v, bias, 0.25, /*merges=*/1));
  }
}

TEST_F(AttentionTest, FullyMaskedRowsAreZeroAndMergeNeutrally) {
  const at::Tensor q = at::randn({1, 2, 6, 8});
  const at::Tensor k = at::randn({1, 2, 20, 8});
  const at::Tensor v = at::randn({1, 2, 20, 8});
  at::Tensor bias = at::zeros({1, 1, 6, 20});
  bias.select(2, 2).fill_(-kInf);                   // query 2 sees no key
  bias.select(2, 4).narrow(2, 0, 10).fill_(-kInf);  // query 4 sees only keys 10..19
  const PartialAttention all = attention_partial(q, k, v, bias, 0.5);
  EXPECT_TRUE(at::isfinite(all.out).all().item<bool>());
  EXPECT_TRUE(at::isfinite(all.lse).all().item<bool>());
  EXPECT_EQ(all.out.select(2, 2).abs().max().item<float>(), 0.0f);

  // Query 4 over keys 0..9 only is fully masked; merging it with keys
  // 10..19 must give exactly the attention over keys 10..19.
  const auto part = [&](int64_t start) {
    return attention_partial(q, k.narrow(2, start, 10), v.narrow(2, start, 10),
                             bias.narrow(3, start, 10), 0.5);
  };
  const PartialAttention merged = merge_partial(part(0), part(10));
  EXPECT_TRUE(at::isfinite(merged.out).all().item<bool>());
  EXPECT_EQ(merged.out.select(2, 2).abs().max().item<float>(), 0.0f);
  // The other rows, query 4's included, against the naive float64 softmax
  // (of finite scores: of a row of -inf it is NaN), which query 2 leaves.
  const at::Tensor seen = at::tensor(std::vector<int64_t>{0, 1, 3, 4, 5});
  const auto rows = [&](const at::Tensor& t) { return t.index_select(2, seen); };
  const AttentionReference want =
      attention_reference(rows(q), k, v, rows(bias.clamp_min(-1e4)), 0.5, /*merges=*/1);
  for (const PartialAttention& got : {all, merged}) {
    EXPECT_LE(bound_ratio(rows(got.out), want.out, want.out_bound), 1.0);
    EXPECT_LE(bound_ratio(rows(got.lse), want.lse, want.lse_bound), 1.0);
  }
}

TEST_F(AttentionTest, ReducedPrecisionIsAttendedInFloat) {
  for (const auto dtype : {at::kBFloat16, at::kHalf}) {
    const at::Tensor q = at::randn({2, 4, 100, 32}).to(dtype);
    const at::Tensor k = at::randn({2, 4, 130, 32}).to(dtype);
    const at::Tensor v = at::randn({2, 4, 130, 32}).to(dtype);
    const at::Tensor bias = at::randn({2, 1, 1, 130}).to(dtype);
    const PartialAttention got = attention_partial(q, k, v, bias, 0.2);
    EXPECT_EQ(got.out.scalar_type(), dtype);
    EXPECT_EQ(got.lse.scalar_type(), at::kFloat);
    // The inputs are exact in float32: float32's bound, and the output's
    // rounding to `dtype`.
    const AttentionReference want = attention_reference(q, k, v, bias, 0.2);
    const at::Tensor bound = want.out_bound + xdit::testing::unit_roundoff(dtype) * want.out.abs();
    EXPECT_LE(bound_ratio(got.out, want.out, bound), 1.0) << dtype;
  }
}

TEST_F(AttentionTest, EmptyKeySetGivesZeroOutput) {
  const at::Tensor q = at::randn({1, 2, 3, 4});
  const at::Tensor kv = at::randn({1, 2, 0, 4});
  const PartialAttention empty = attention_partial(q, kv, kv, {}, 0.5);
  EXPECT_EQ(empty.out.abs().max().item<float>(), 0.0f);
  EXPECT_TRUE(at::isfinite(empty.lse).all().item<bool>());
}

TEST_F(AttentionTest, RejectsMismatchedShapes) {
  const at::Tensor q = at::randn({1, 2, 3, 4});
  EXPECT_THROW(attention(q, at::randn({1, 2, 5, 3}), at::randn({1, 2, 5, 4}), {}, 1.0), UsageError);
  EXPECT_THROW(attention(q, at::randn({1, 3, 5, 4}), at::randn({1, 3, 5, 4}), {}, 1.0), UsageError);
  EXPECT_THROW(attention(q, q, q, at::randn({1, 2, 2, 3}), 1.0), UsageError);
  EXPECT_THROW(attention(q.to(at::kDouble), q, q, {}, 1.0), UsageError);
}

TEST_F(AttentionTest, WorkspaceIsLinearInTokens) {
  // PixArt at 4096 tokens: the 16 heads' 4096 x 4096 scores of one image
  // would take 1 GB; the kernel packs one head's K and V and one group of
  // queries, a few MB.
  const int64_t at_4096 = attention_workspace_bytes(4096, 4096, 72, 72);
  EXPECT_LT(at_4096, int64_t{4} << 20);
  EXPECT_LT(attention_workspace_bytes(8192, 8192, 72, 72), 2 * at_4096);
}

// Every width this CPU runs (AVX-512, AVX2, the portable one) on shapes that
// hit the tails of its tiles: partial row tiles, partial key chunks, value
// widths that need padding or several passes, and more rows than a group.
TEST_F(AttentionTest, KernelMatchesNaiveAtEveryWidth) {
  struct Case {
    int64_t lq, lk, d, dv;
  };
  const Case cases[] = {{1, 1, 1, 1},     {3, 5, 7, 9},    {13, 65, 16, 16},  {6, 17, 72, 72},
                        {9, 40, 64, 128}, {5, 33, 8, 200}, {1030, 70, 12, 20}};
  for (const SimdWidth width : supported_simd_widths()) {
    for (const Case& c : cases) {
      const at::Tensor q = at::randn({c.lq, c.d});
      const at::Tensor k = at::randn({c.lk, c.d});
      const at::Tensor v = at::randn({c.lk, c.dv});
      const at::Tensor bias = at::randn({c.lq, c.lk});
      at::Tensor out = at::empty({c.lq, c.dv});
      at::Tensor lse = at::empty({c.lq});
      AttentionKernel kernel(c.lq, c.lk, c.d, c.dv, 0.3f, width);
      ASSERT_EQ(kernel.width(), width);
      AttentionSlice slice;
      slice.q = q.data_ptr<float>();
      slice.q_stride = c.d;
      slice.k = k.data_ptr<float>();
      slice.k_stride = c.d;
      slice.v = v.data_ptr<float>();
      slice.v_stride = c.dv;
      slice.bias = bias.data_ptr<float>();
      slice.bias_row_stride = c.lk;
      slice.bias_col_stride = 1;
      slice.out = out.data_ptr<float>();
      slice.out_stride = c.dv;
      slice.lse = lse.data_ptr<float>();
      kernel.run(slice);
      SCOPED_TRACE(::testing::Message() << "width " << static_cast<int>(width) << " Lq " << c.lq
                                        << " Lk " << c.lk << " D " << c.d << " Dv " << c.dv);
      expect_within({out, lse}, attention_reference(q, k, v, bias, 0.3));
    }
  }
}

}  // namespace
}  // namespace xdit::models
