#include "core/error.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {

// Placeholder until the module lands.
Outputs run_scheduler_case(const io::ReferenceVector& vector) {
  throw UsageError(vector.path().string() + ": scheduler is not implemented yet");
}

}  // namespace xdit::verify
