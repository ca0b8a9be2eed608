#include "models/sd3_transformer.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {

Outputs run_sd3_case(const io::ReferenceVector& vector, at::ScalarType dtype) {
  const io::Weights weights = vector.weights(dtype);
  const models::SD3Transformer model(models::SD3Config::from_config(vector.config()), weights);
  weights.expect_all_used();
  return {
      {"sample", model.forward(vector.input("hidden_states"), vector.input("encoder_hidden_states"),
                               vector.input("pooled_projections"), vector.input("timestep"))}};
}

}  // namespace xdit::verify
