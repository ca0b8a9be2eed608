#include "models/flux_transformer.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {

Outputs run_flux_case(const io::ReferenceVector& vector, at::ScalarType dtype) {
  const io::Weights weights = vector.weights(dtype);
  const models::FluxTransformer model(models::FluxConfig::from_config(vector.config()), weights);
  weights.expect_all_used();
  const at::Tensor guidance =
      vector.has_input("guidance") ? vector.input("guidance") : at::Tensor();
  return {
      {"sample", model.forward(vector.input("hidden_states"), vector.input("encoder_hidden_states"),
                               vector.input("pooled_projections"), vector.input("timestep"),
                               vector.input("img_ids"), vector.input("txt_ids"), guidance)}};
}

}  // namespace xdit::verify
