#include "rounding.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "verify/conformance.hpp"

namespace xdit::testing {

double unit_roundoff(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return kFloat32Unit;
    case at::kBFloat16:
      return kBFloat16Unit;
    case at::kHalf:
      return kFloat16Unit;
    case at::kDouble:
      return kFloat64Unit;
    default:
      throw std::invalid_argument(std::string("no unit roundoff for ") + c10::toString(dtype));
  }
}

double gamma(int64_t n, double unit) {
  const double nu = static_cast<double>(n) * unit;
  if (n < 0 || nu >= 1)
    throw std::invalid_argument("gamma: " + std::to_string(n) + " roundings leave no bound");
  return nu / (1 - nu);
}

double rounding_bound(int64_t n, double magnitude, double unit) {
  return gamma(n, unit) * magnitude;
}

at::Tensor linear_bound(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                        int64_t extra) {
  at::Tensor magnitude = at::matmul(x.to(at::kDouble).abs(), weight.to(at::kDouble).abs().t());
  if (bias.defined())
    magnitude.add_(bias.to(at::kDouble).abs());
  return magnitude.mul_(gamma(x.size(-1) + 1 + extra));
}

at::Tensor conv2d_bound(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                        int64_t stride, int64_t padding) {
  at::Tensor magnitude =
      at::conv2d(x.to(at::kDouble).abs(), weight.to(at::kDouble).abs(), {}, stride, padding);
  if (bias.defined())
    magnitude.add_(bias.to(at::kDouble).abs().view({-1, 1, 1}));
  return magnitude.mul_(gamma(weight.numel() / weight.size(0) + 1));
}

double max_difference(const at::Tensor& a, const at::Tensor& b) {
  // On the host: one side may be a GPU's result.
  return max_magnitude(a.to(at::kCPU, at::kDouble) - b.to(at::kCPU, at::kDouble));
}

double max_magnitude(const at::Tensor& a) {
  return a.numel() == 0 ? 0.0 : a.to(at::kDouble).abs().max().item<double>();
}

namespace {

double scale_of(const at::Tensor& t) {
  return std::max(1.0, max_magnitude(t));
}

}  // namespace

double scaled_difference(const at::Tensor& actual, const at::Tensor& expected) {
  return max_difference(actual, expected) / scale_of(expected);
}

double bound_ratio(const at::Tensor& actual, const at::Tensor& expected, const at::Tensor& bound) {
  const at::Tensor error = (actual.to(at::kDouble) - expected.to(at::kDouble)).abs();
  // 0 / 0 is an exact element with no room, which passes; x / 0 is +inf.
  const at::Tensor ratio = at::where(error == 0, at::zeros_like(error), error / bound);
  return ratio.numel() == 0 ? 0.0 : ratio.max().item<double>();
}

double measured_error_bound(const at::Tensor& f32, const at::Tensor& f64, double unit) {
  return verify::kOtherOrderFactor * (unit / kFloat32Unit) * max_difference(f32, f64) +
         unit * max_magnitude(f64);
}

double measured_reorder_bound(const at::Tensor& f32, const at::Tensor& f64) {
  return verify::reorder_tolerance(f32, f64);
}

double scaled_reorder_bound(const at::Tensor& f32, const at::Tensor& f64) {
  return measured_reorder_bound(f32, f64) / scale_of(f32);
}

}  // namespace xdit::testing
