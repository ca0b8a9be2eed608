#pragma once
// Tolerances from a model of floating-point rounding rather than from what
// one machine's kernels happened to produce, so that a comparison passes on
// every CPU and BLAS (whatever order they sum in) and still fails on a real
// bug. docs/testing.md explains the forms; in short, with u the unit
// roundoff (2^-24 for float32, 2^-8 for bfloat16):
//
// - A sum or dot product of n terms, in any order, is within
//   γ_n · Σ|terms| of the exact value, γ_n = n·u / (1 - n·u) (Higham,
//   "Accuracy and Stability of Numerical Algorithms", §3.1). A float32
//   result is compared with a float64 computation of the same thing.
// - Two float32 computations that sum in different orders (bands against
//   the whole, one rank against two) are each within that of the exact
//   value, so within twice it of each other.
// - A whole model, whose Σ|terms| cannot be followed term by term: the
//   float32 error of the reference computation is measured against its
//   float64 twin in the same run.

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace xdit::testing {

inline constexpr double kFloat32Unit = 0x1p-24;
inline constexpr double kBFloat16Unit = 0x1p-8;
inline constexpr double kFloat16Unit = 0x1p-11;
inline constexpr double kFloat64Unit = 0x1p-53;

// The unit roundoff of a floating dtype.
double unit_roundoff(at::ScalarType dtype);

// γ_n: the relative error that n roundings of at most `unit` each can
// compound to. Throws when n·unit reaches 1 (no bound left).
double gamma(int64_t n, double unit = kFloat32Unit);

// |computed - exact| for n roundings: a sum or dot product of n terms (in
// any order) whose absolute values add up to `magnitude`, or a chain of n
// products, quotients and roots whose result is `magnitude`.
double rounding_bound(int64_t n, double magnitude, double unit = kFloat32Unit);

// Per element of at::linear(x, weight, bias) in float32, in float64:
// γ_(n+1+extra) (|x| |weight|^T + |bias|), n = x.size(-1): the products, the
// bias, and `extra` roundings more of the same terms (a caller's own sums).
at::Tensor linear_bound(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                        int64_t extra = 0);

// Per element of a float32 convolution of x by `weight` (+ `bias`), in
// float64: γ_(n+1) (conv(|x|, |weight|) + |bias|), n = in channels × k × k.
at::Tensor conv2d_bound(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                        int64_t stride, int64_t padding);

// max |a - b| and max |a|, in float64 on the host (0 for empty tensors).
double max_difference(const at::Tensor& a, const at::Tensor& b);
double max_magnitude(const at::Tensor& a);

// max |actual - expected| over the scale of `expected` (at least 1): for
// latents, which the random-weight models drive to ~10^3 under DPM-Solver
// (its data predictions divide by alpha_t, ~0.006 at the first step), where
// one float32 ulp is already ~1e-4.
double scaled_difference(const at::Tensor& actual, const at::Tensor& expected);

// The largest |actual - expected| / bound over the elements (`bound`
// broadcasts): at most 1 when every element is within its bound. An element
// whose bound is 0 must be exact; NaN anywhere gives NaN, which fails any
// EXPECT_LE.
double bound_ratio(const at::Tensor& actual, const at::Tensor& expected, const at::Tensor& bound);

// Measured bounds for a whole model, from the float32 result `f32` of a
// reference computation and its float64 twin `f64`: another float32
// evaluation, summing in another order, is taken to err by at most
// verify::kOtherOrderFactor times the measured error, plus one rounding of
// the largest output (verify/conformance.hpp, which holds the golden vectors
// to the same).
// |other - f64|, for another float32 evaluation `other`. With a larger
// `unit`, for an evaluation in bfloat16 (weights and activations stored in
// it, products and sums in float32, as the CPU kernels do): it rounds at
// most where float32 does, each rounding up to unit / 2^-24 times larger.
double measured_error_bound(const at::Tensor& f32, const at::Tensor& f64,
                            double unit = kFloat32Unit);
// |other - f32|: verify::reorder_tolerance.
double measured_reorder_bound(const at::Tensor& f32, const at::Tensor& f64);
// The same in scaled_difference's units (over the scale of f32).
double scaled_reorder_bound(const at::Tensor& f32, const at::Tensor& f64);

}  // namespace xdit::testing
