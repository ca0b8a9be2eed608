#pragma once
// The golden vectors (tests/data/golden): diffusers' float32 outputs, made on
// another machine and so summed in other orders. An output computed here in
// float32 may differ from them by float32's rounding, which a float64 run of
// the same case measures (support/rounding.hpp).

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "io/reference_vector.hpp"

namespace xdit::testing {

// For each output of the vector's case: how far a float32 evaluation may
// lie from the vector's (measured_reorder_bound of this machine's float32
// and float64 runs).
std::map<std::string, double> reference_bounds(const io::ReferenceVector& vector);

// Runs the case in float32 and float64 and expects every float32 output
// within its bound of the vector's, the float64 outputs within the
// reference's own float32 error (measured_error_bound), and `xdit verify`'s
// verdict to be a pass. Prints each output's error and bound.
//
// `product_chain`: the longest chain of float32 products behind an output,
// such as a scheduler's cumulative product of alphas over its training
// steps. The reference's float32 evaluation may err by γ_n of each value
// there, and the error measured here need not show it: LibTorch 2.x
// accumulates a float32 cumprod in float64, 1.13 in float32, and an older
// LibTorch made the vectors. Each bound then grows by γ_n·|value|.
void expect_matches_reference(const std::filesystem::path& vector_path, int64_t product_chain = 0);

}  // namespace xdit::testing
