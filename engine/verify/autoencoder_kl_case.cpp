#include "core/error.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {

// Placeholder until the module lands.
Outputs run_autoencoder_kl_case(const io::ReferenceVector& vector) {
  throw UsageError(vector.path().string() + ": autoencoder_kl is not implemented yet");
}

}  // namespace xdit::verify
