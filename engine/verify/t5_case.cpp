#include "models/t5_encoder.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {

Outputs run_t5_case(const io::ReferenceVector& vector, at::ScalarType dtype) {
  const models::T5Config config = models::T5Config::from_config(vector.config());
  const io::Weights weights = vector.weights(dtype);
  const models::T5Encoder encoder(config, weights);
  weights.expect_all_used();
  // SD3 and Flux call T5 without a mask; the PixArt vectors carry one.
  const at::Tensor mask =
      vector.has_input("attention_mask") ? vector.input("attention_mask") : at::Tensor();
  return {{"last_hidden_state", encoder.forward(vector.input("input_ids"), mask)}};
}

}  // namespace xdit::verify
