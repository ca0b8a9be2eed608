#include "core/error.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {

// Placeholder until the module lands.
Outputs run_t5_case(const io::ReferenceVector& vector) {
  throw UsageError(vector.path().string() + ": t5 is not implemented yet");
}

}  // namespace xdit::verify
