#include "parallel/stale_kv_cache.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "models/attention.hpp"
#include "support/attention_reference.hpp"
#include "support/rounding.hpp"

namespace xdit::parallel {
namespace {

using xdit::testing::attention_reference;
using xdit::testing::AttentionReference;
using xdit::testing::bound_ratio;

constexpr double kScale = 0.25;

at::Tensor random_heads(int64_t tokens, int64_t seed) {
  at::manual_seed(seed);
  return at::randn({2, 3, tokens, 8});
}

// Within float32's rounding bound of the float64 attention of q over k, v.
void expect_attention(const at::Tensor& out, const at::Tensor& q, const at::Tensor& k,
                      const at::Tensor& v) {
  const AttentionReference want = attention_reference(q, k, v, {}, kScale);
  EXPECT_LE(bound_ratio(out, want.out, want.out_bound), 1.0);
}

// Patches written in order, the way a PipeFusion stage walks an image: once
// every patch has been written, a patch attends to the whole sequence.
TEST(StaleKvCacheTest, PatchesWrittenInTurnAttendToTheWholeSequence) {
  const at::Tensor q = random_heads(12, 1), k = random_heads(12, 2), v = random_heads(12, 3);
  StaleKvCache cache;
  StaleKvAttention attention(cache);
  for (int64_t first : {0, 4, 8}) {
    attention.set_tokens(first, 12);
    attention.self_attention(5, q.narrow(2, first, 4), k.narrow(2, first, 4), v.narrow(2, first, 4),
                             kScale);
  }
  attention.set_tokens(4, 12);
  const at::Tensor out =
      attention.self_attention(5, q.narrow(2, 4, 4), k.narrow(2, 4, 4), v.narrow(2, 4, 4), kScale);
  expect_attention(out, q.narrow(2, 4, 4), k, v);
}

// Before a warm-up step has filled the buffer, tokens never written take no
// part: the first patch of the first step sees only itself.
TEST(StaleKvCacheTest, TokensNeverWrittenAreMaskedOut) {
  const at::Tensor q = random_heads(10, 4), k = random_heads(10, 5), v = random_heads(10, 6);
  StaleKvCache cache;
  const StaleKv kv = cache.refresh(0, 2, 10, k.narrow(2, 2, 3), v.narrow(2, 2, 3));
  ASSERT_TRUE(kv.bias.defined());
  const at::Tensor out = models::attention(q.narrow(2, 2, 3), kv.keys, kv.values, kv.bias, kScale);
  expect_attention(out, q.narrow(2, 2, 3), k.narrow(2, 2, 3), v.narrow(2, 2, 3));
}

// A later write keeps the other tokens as they were: stale, not fresh.
TEST(StaleKvCacheTest, OnlyTheWrittenSliceIsRefreshed) {
  const at::Tensor old_k = random_heads(6, 7), old_v = random_heads(6, 8);
  const at::Tensor new_k = random_heads(6, 9), new_v = random_heads(6, 10);
  StaleKvCache cache;
  cache.refresh(1, 0, 6, old_k, old_v);
  const StaleKv kv = cache.refresh(1, 3, 6, new_k.narrow(2, 3, 3), new_v.narrow(2, 3, 3));
  EXPECT_FALSE(kv.bias.defined());
  EXPECT_TRUE(at::equal(kv.keys.narrow(2, 0, 3), old_k.narrow(2, 0, 3)));
  EXPECT_TRUE(at::equal(kv.keys.narrow(2, 3, 3), new_k.narrow(2, 3, 3)));
  EXPECT_TRUE(at::equal(kv.values.narrow(2, 3, 3), new_v.narrow(2, 3, 3)));
  EXPECT_EQ(cache.bytes(), 2 * old_k.nbytes());
}

// DistriFusion hands over a gathered sequence; the own slice then refreshes it.
TEST(StaleKvCacheTest, AssignedSequenceIsCompleteAndRefreshable) {
  const at::Tensor gathered_k = random_heads(8, 11), gathered_v = random_heads(8, 12);
  const at::Tensor fresh_k = random_heads(4, 13), fresh_v = random_heads(4, 14);
  StaleKvCache cache;
  cache.assign(2, gathered_k.clone(), gathered_v.clone());
  const StaleKv kv = cache.refresh(2, 4, 8, fresh_k, fresh_v);
  EXPECT_FALSE(kv.bias.defined());
  EXPECT_TRUE(at::equal(kv.keys.narrow(2, 0, 4), gathered_k.narrow(2, 0, 4)));
  EXPECT_TRUE(at::equal(kv.keys.narrow(2, 4, 4), fresh_k));
}

TEST(StaleKvCacheTest, RefusesASliceThatDoesNotFit) {
  StaleKvCache cache;
  cache.refresh(0, 0, 8, random_heads(4, 1), random_heads(4, 2));
  EXPECT_THROW(cache.refresh(0, 6, 8, random_heads(4, 3), random_heads(4, 4)), UsageError);
  EXPECT_THROW(cache.refresh(0, 0, 9, random_heads(4, 3), random_heads(4, 4)), UsageError);
  EXPECT_THROW(cache.refresh(0, 0, 8, at::randn({2, 2, 4, 8}), random_heads(4, 4)), UsageError);
  EXPECT_THROW(cache.refresh(1, 0, 8, at::randn({2, 4, 8}), random_heads(4, 4)), UsageError);
  cache.clear();
  EXPECT_EQ(cache.bytes(), 0);
}

}  // namespace
}  // namespace xdit::parallel
