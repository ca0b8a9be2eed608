#pragma once
// How far an image is from a reference: the largest per-channel difference
// and the PSNR, on 8-bit images as users see them. The stale methods'
// quality-by-warm-up report compares each run with the serial image.

#include <ATen/core/Tensor.h>

namespace xdit::bench {

struct ImageDifference {
  double max_abs = 0;  // in 8-bit levels, 0..255
  double psnr_db = 0;  // +inf for identical images
};

// a, b: uint8 images of one shape (any layout, e.g. [N, H, W, 3]).
// UsageError for different shapes or dtypes other than uint8.
ImageDifference compare_images(const at::Tensor& a, const at::Tensor& b);

}  // namespace xdit::bench
