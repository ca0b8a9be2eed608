#pragma once
// One runner per family of modules. Each builds its module from the vector's
// config and weights and returns every output the vector holds.

#include "verify/conformance.hpp"

namespace xdit::verify {

Outputs run_pixart_case(const io::ReferenceVector& vector);
Outputs run_t5_case(const io::ReferenceVector& vector);
Outputs run_autoencoder_kl_case(const io::ReferenceVector& vector);
Outputs run_scheduler_case(const io::ReferenceVector& vector);

}  // namespace xdit::verify
