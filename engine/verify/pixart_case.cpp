#include "core/error.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {

// Placeholder until the module lands.
Outputs run_pixart_case(const io::ReferenceVector& vector) {
  throw UsageError(vector.path().string() + ": pixart is not implemented yet");
}

}  // namespace xdit::verify
