#include "core/large_allocation_reuse.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace xdit {
namespace {

constexpr int64_t kLargeFloats = 2 * static_cast<int64_t>(kMinReusedBytes) / 4;

TEST(LargeAllocationReuse, AFreedLargeBlockServesTheNextRequestOfItsSize) {
  const LargeAllocationReuse reuse;
  const void* first = at::empty({kLargeFloats}).data_ptr();  // freed at once
  const LargeAllocationStats before = large_allocation_stats();
  EXPECT_EQ(before.kept_bytes, 2 * static_cast<int64_t>(kMinReusedBytes));
  const at::Tensor second = at::empty({kLargeFloats});
  EXPECT_EQ(second.data_ptr(), first);
  EXPECT_EQ(large_allocation_stats().reused, before.reused + 1);
  EXPECT_EQ(large_allocation_stats().kept_bytes, 0);
  // Another size is not served from that list.
  const at::Tensor other = at::empty({kLargeFloats + 16});
  EXPECT_EQ(large_allocation_stats().fresh, before.fresh + 1);
}

TEST(LargeAllocationReuse, TheLastScopeReturnsWhatItKept) {
  {
    const LargeAllocationReuse outer;
    {
      const LargeAllocationReuse inner;
      at::empty({kLargeFloats});
    }
    EXPECT_GT(large_allocation_stats().kept_bytes, 0) << "an inner scope must not release";
  }
  EXPECT_EQ(large_allocation_stats().kept_bytes, 0);
}

TEST(LargeAllocationReuse, SmallTensorsAndResultsAreUnaffected) {
  const LargeAllocationReuse reuse;
  const int64_t fresh = large_allocation_stats().fresh;
  const at::Tensor small = at::arange(100, at::kFloat);
  EXPECT_EQ(large_allocation_stats().fresh, fresh);
  const at::Tensor a = at::full({kLargeFloats}, 2.0f);
  const at::Tensor b = at::full({kLargeFloats}, 3.0f);
  EXPECT_EQ((a * b).sum().item<double>(), 6.0 * kLargeFloats);
  EXPECT_EQ(small.sum().item<double>(), 4950.0);
}

}  // namespace
}  // namespace xdit
