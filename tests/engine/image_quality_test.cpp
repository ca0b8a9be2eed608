#include "bench/image_quality.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"

namespace xdit::bench {
namespace {

TEST(ImageQuality, IdenticalImagesHaveInfinitePsnr) {
  const at::Tensor image = at::randint(0, 256, {1, 8, 8, 3}).to(at::kByte);
  const ImageDifference d = compare_images(image, image.clone());
  EXPECT_EQ(d.max_abs, 0);
  EXPECT_TRUE(std::isinf(d.psnr_db));
}

TEST(ImageQuality, OneLevelEverywhereIs48Decibels) {
  const at::Tensor a = at::full({2, 4, 4, 3}, 100, at::kByte);
  const ImageDifference d = compare_images(a, a + 1);
  EXPECT_EQ(d.max_abs, 1);
  EXPECT_NEAR(d.psnr_db, 20 * std::log10(255.0), 1e-9);  // 48.13 dB
}

TEST(ImageQuality, RefusesImagesOfDifferentShapesOrTypes) {
  const at::Tensor a = at::zeros({1, 4, 4, 3}, at::kByte);
  EXPECT_THROW(compare_images(a, at::zeros({1, 4, 5, 3}, at::kByte)), UsageError);
  EXPECT_THROW(compare_images(a, at::zeros({1, 4, 4, 3})), UsageError);
}

}  // namespace
}  // namespace xdit::bench
