#include "reference_check.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <iostream>

#include "rounding.hpp"
#include "verify/conformance.hpp"

namespace xdit::testing {

std::map<std::string, double> reference_bounds(const io::ReferenceVector& vector) {
  const verify::Outputs f32 = verify::run_reference_case(vector);
  const verify::Outputs f64 = verify::run_reference_case(vector, at::kDouble);
  std::map<std::string, double> bounds;
  for (const auto& name : vector.output_names())
    bounds[name] = measured_reorder_bound(f32.at(name), f64.at(name));
  return bounds;
}

void expect_matches_reference(const std::filesystem::path& vector_path, int64_t product_chain) {
  const io::ReferenceVector vector(vector_path);
  const verify::Outputs f32 = verify::run_reference_case(vector);
  const verify::Outputs f64 = verify::run_reference_case(vector, at::kDouble);
  ASSERT_FALSE(vector.output_names().empty());
  for (const auto& name : vector.output_names()) {
    SCOPED_TRACE(vector.case_name() + " out." + name);
    const at::Tensor expected = vector.output(name);
    ASSERT_EQ(f32.count(name), 1u);
    ASSERT_EQ(f32.at(name).sizes(), expected.sizes());
    const double error = max_difference(f32.at(name), expected);
    const double bound = measured_reorder_bound(f32.at(name), f64.at(name));
    const at::Tensor chain =
        product_chain > 0 ? gamma(product_chain) * f64.at(name).abs() : at::zeros({}, at::kDouble);
    EXPECT_LE(bound_ratio(f32.at(name), expected, chain + bound), 1.0) << "max |error| " << error;
    EXPECT_LE(bound_ratio(f64.at(name), expected,
                          chain + measured_error_bound(f32.at(name), f64.at(name))),
              1.0);
    std::cout << "[          ] " << vector.case_name() << " " << name << ": max |error| = " << error
              << ", bound " << bound << "\n";
  }
  EXPECT_TRUE(verify::verify_reference(vector_path).passed());
}

}  // namespace xdit::testing
