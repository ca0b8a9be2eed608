#include "pipelines/latent_preview.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"

namespace xdit::pipelines {
namespace {

TEST(LatentPreview, ProjectsEveryLatentPixelThroughTheMap) {
  LatentPreview map;
  map.weight = at::zeros({3, 4});
  map.weight[0][0] = 1;    // R follows channel 0
  map.weight[2][3] = 0.5;  // B half of channel 3
  map.bias = at::tensor({0.0f, 0.25f, 0.0f});
  at::Tensor latents = at::zeros({1, 4, 2, 3});
  latents[0][0][1][2] = 1;
  latents[0][3][0][0] = 1;
  const at::Tensor rgb = map.project(latents);
  ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{1, 2, 3, 3}));
  EXPECT_EQ(rgb.scalar_type(), at::kByte);
  EXPECT_EQ(rgb[0][1][2][0].item<int>(), 255);
  EXPECT_EQ(rgb[0][0][0][0].item<int>(), 0);
  EXPECT_EQ(rgb[0][0][0][2].item<int>(), 128);  // 0.5 × 255, rounded
  EXPECT_EQ(rgb[0][1][1][1].item<int>(), 64);   // 0.25 × 255, rounded
  EXPECT_THROW(map.project(at::zeros({1, 3, 2, 2})), UsageError);
}

// The built-in model's small random VAE gets a fitted map that predicts its
// decoded colours better than their mean does.
TEST(LatentPreview, FitsTheBuiltinVaeByLeastSquares) {
  const auto folder = resolve_model(
      "builtin:tiny-pixart", std::filesystem::path(::testing::TempDir()) / "xdit-preview-test");
  const LatentPreview map = latent_preview_for(io::ModelFolder(folder));
  ASSERT_EQ(map.weight.sizes(), (std::vector<int64_t>{3, 4}));
  ASSERT_TRUE(at::isfinite(map.weight).all().item<bool>());

  const auto pipeline = DitPipeline::load(io::ModelFolder(folder));
  const at::Tensor latents = at::randn({2, 4, 16, 16});
  const int64_t scale = pipeline.vae_scale_factor();
  const at::Tensor decoded = at::avg_pool2d(pipeline.decode(latents), {scale, scale});  // [0, 1]
  const at::Tensor predicted = map.project(latents).to(at::kFloat).div(255).permute({0, 3, 1, 2});
  const double fit_error = (predicted - decoded).pow(2).mean().item<double>();
  const double mean_error = (decoded - decoded.mean({0, 2, 3}, true)).pow(2).mean().item<double>();
  EXPECT_LT(fit_error, mean_error);
}

}  // namespace
}  // namespace xdit::pipelines
