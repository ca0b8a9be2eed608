#include "bench/image_quality.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace xdit::bench {

ImageDifference compare_images(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != at::kByte || b.scalar_type() != at::kByte || !a.sizes().equals(b.sizes()))
    throw UsageError("compare_images needs two uint8 images of one shape");
  const at::Tensor difference = a.to(at::kDouble) - b.to(at::kDouble);
  ImageDifference out;
  out.max_abs = difference.abs().max().item<double>();
  const double mse = difference.square().mean().item<double>();
  out.psnr_db =
      mse == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(255.0 * 255.0 / mse);
  return out;
}

}  // namespace xdit::bench
