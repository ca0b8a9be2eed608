#pragma once
// One runner per family of modules. Each builds its module from the vector's
// config and weights and returns every output the vector holds, computed in
// `dtype`: float32 as the references are, or float64 to measure float32's
// own rounding.

#include "verify/conformance.hpp"

namespace xdit::verify {

Outputs run_pixart_case(const io::ReferenceVector& vector, at::ScalarType dtype);
Outputs run_t5_case(const io::ReferenceVector& vector, at::ScalarType dtype);
Outputs run_clip_case(const io::ReferenceVector& vector, at::ScalarType dtype);
Outputs run_sd3_case(const io::ReferenceVector& vector, at::ScalarType dtype);
Outputs run_flux_case(const io::ReferenceVector& vector, at::ScalarType dtype);
Outputs run_autoencoder_kl_case(const io::ReferenceVector& vector, at::ScalarType dtype);
Outputs run_scheduler_case(const io::ReferenceVector& vector, at::ScalarType dtype);

}  // namespace xdit::verify
