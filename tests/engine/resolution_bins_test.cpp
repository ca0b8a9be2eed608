#include "pipelines/resolution_bins.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace xdit::pipelines {
namespace {

TEST(AspectRatioBins, TablesMatchDiffusersEntries) {
  // Spot checks against diffusers' ASPECT_RATIO_*_BIN tables.
  const auto bins1024 = aspect_ratio_bins(128);
  ASSERT_EQ(bins1024.size(), 33u);
  EXPECT_EQ(bins1024.front().height, 512);
  EXPECT_EQ(bins1024.front().width, 2048);
  const auto square = nearest_bin(bins1024, 1024, 1024);
  EXPECT_EQ(square.height, 1024);
  EXPECT_EQ(square.width, 1024);
  const auto bins512 = aspect_ratio_bins(64);
  EXPECT_EQ(nearest_bin(bins512, 300, 500).height, 384);  // ratio 0.6 → [384, 640]
  EXPECT_EQ(nearest_bin(bins512, 300, 500).width, 640);
  const auto bins2048 = aspect_ratio_bins(256);
  ASSERT_EQ(bins2048.size(), 40u);
  EXPECT_EQ(nearest_bin(bins2048, 2890, 1000).height, 3328);  // "2.89"
  EXPECT_TRUE(aspect_ratio_bins(48).empty());
}

TEST(AspectRatioBins, NearestPrefersFirstOnTies) {
  const std::vector<AspectRatioBin> bins = {{1.0, 10, 10}, {2.0, 20, 10}};
  EXPECT_EQ(nearest_bin(bins, 15, 10).height, 10);  // ratio 1.5: equal distance
}

TEST(ResizeAndCrop, CoversTargetAndCropsCentre) {
  const at::Tensor image = at::arange(4 * 8, at::kFloat).reshape({1, 1, 4, 8});
  const at::Tensor same = resize_and_crop(image, 4, 8);
  EXPECT_TRUE(same.equal(image));
  const at::Tensor cropped = resize_and_crop(image, 4, 4);
  ASSERT_EQ(cropped.sizes(), (std::vector<int64_t>{1, 1, 4, 4}));
  EXPECT_TRUE(cropped.equal(image.narrow(3, 2, 4)));
  const at::Tensor upscaled = resize_and_crop(image, 8, 8);
  EXPECT_EQ(upscaled.sizes(), (std::vector<int64_t>{1, 1, 8, 8}));
}

}  // namespace
}  // namespace xdit::pipelines
