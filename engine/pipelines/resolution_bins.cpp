#include "pipelines/resolution_bins.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace xdit::pipelines {
namespace {

// diffusers' ASPECT_RATIO_256_BIN; its 512 and 1024 tables are this one
// scaled by 2 and 4 exactly.
constexpr AspectRatioBin kBins256[] = {
    {0.25, 128, 512}, {0.28, 128, 464}, {0.32, 144, 448}, {0.33, 144, 432}, {0.35, 144, 416},
    {0.4, 160, 400},  {0.42, 160, 384}, {0.48, 176, 368}, {0.5, 176, 352},  {0.52, 176, 336},
    {0.57, 192, 336}, {0.6, 192, 320},  {0.68, 208, 304}, {0.72, 208, 288}, {0.78, 224, 288},
    {0.82, 224, 272}, {0.88, 240, 272}, {0.94, 240, 256}, {1.0, 256, 256},  {1.07, 256, 240},
    {1.13, 272, 240}, {1.21, 272, 224}, {1.29, 288, 224}, {1.38, 288, 208}, {1.46, 304, 208},
    {1.67, 320, 192}, {1.75, 336, 192}, {2.0, 352, 176},  {2.09, 368, 176}, {2.4, 384, 160},
    {2.5, 400, 160},  {3.0, 432, 144},  {4.0, 512, 128},
};

// diffusers' ASPECT_RATIO_2048_BIN (PixArt-Σ 2K), which has its own buckets.
constexpr AspectRatioBin kBins2048[] = {
    {0.25, 1024, 4096}, {0.26, 1024, 3968}, {0.27, 1024, 3840}, {0.28, 1024, 3712},
    {0.32, 1152, 3584}, {0.33, 1152, 3456}, {0.35, 1152, 3328}, {0.4, 1280, 3200},
    {0.42, 1280, 3072}, {0.48, 1408, 2944}, {0.5, 1408, 2816},  {0.52, 1408, 2688},
    {0.57, 1536, 2688}, {0.6, 1536, 2560},  {0.68, 1664, 2432}, {0.72, 1664, 2304},
    {0.78, 1792, 2304}, {0.82, 1792, 2176}, {0.88, 1920, 2176}, {0.94, 1920, 2048},
    {1.0, 2048, 2048},  {1.07, 2048, 1920}, {1.13, 2176, 1920}, {1.21, 2176, 1792},
    {1.29, 2304, 1792}, {1.38, 2304, 1664}, {1.46, 2432, 1664}, {1.67, 2560, 1536},
    {1.75, 2688, 1536}, {2.0, 2816, 1408},  {2.09, 2944, 1408}, {2.4, 3072, 1280},
    {2.5, 3200, 1280},  {2.89, 3328, 1152}, {3.0, 3456, 1152},  {3.11, 3584, 1152},
    {3.62, 3712, 1024}, {3.75, 3840, 1024}, {3.88, 3968, 1024}, {4.0, 4096, 1024},
};

}  // namespace

std::vector<AspectRatioBin> aspect_ratio_bins(int64_t sample_size) {
  if (sample_size == 256)
    return {std::begin(kBins2048), std::end(kBins2048)};
  int64_t scale = 0;
  if (sample_size == 32)
    scale = 1;
  if (sample_size == 64)
    scale = 2;
  if (sample_size == 128)
    scale = 4;
  std::vector<AspectRatioBin> bins;
  if (scale == 0)
    return bins;
  for (const auto& bin : kBins256)
    bins.push_back({bin.ratio, bin.height * scale, bin.width * scale});
  return bins;
}

AspectRatioBin nearest_bin(const std::vector<AspectRatioBin>& bins, int64_t height, int64_t width) {
  const double ratio = static_cast<double>(height) / static_cast<double>(width);
  const AspectRatioBin* best = &bins.at(0);
  for (const auto& bin : bins) {
    if (std::abs(bin.ratio - ratio) < std::abs(best->ratio - ratio))
      best = &bin;
  }
  return *best;
}

at::Tensor resize_and_crop(const at::Tensor& images, int64_t height, int64_t width) {
  const int64_t source_height = images.size(2);
  const int64_t source_width = images.size(3);
  if (source_height == height && source_width == width)
    return images;
  const double ratio = std::max(static_cast<double>(height) / static_cast<double>(source_height),
                                static_cast<double>(width) / static_cast<double>(source_width));
  const auto resized_height = static_cast<int64_t>(static_cast<double>(source_height) * ratio);
  const auto resized_width = static_cast<int64_t>(static_cast<double>(source_width) * ratio);
  const at::Tensor resized = at::upsample_bilinear2d(images, {resized_height, resized_width},
                                                     /*align_corners=*/false);
  const int64_t top = (resized_height - height) / 2;
  const int64_t left = (resized_width - width) / 2;
  return resized.narrow(2, top, height).narrow(3, left, width);
}

}  // namespace xdit::pipelines
