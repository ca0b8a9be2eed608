#include <ATen/ATen.h>

#include "models/pixart_transformer.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {

// The vectors call the model as the PixArt pipelines do: the mask and the
// size conditions are present only where the pipeline passes them.
Outputs run_pixart_case(const io::ReferenceVector& vector, at::ScalarType dtype) {
  const io::Weights weights = vector.weights(dtype);
  const models::PixArtTransformer model(models::PixArtConfig::from_config(vector.config()),
                                        weights);
  weights.expect_all_used();
  const auto optional_input = [&](const std::string& name) {
    return vector.has_input(name) ? vector.input(name) : at::Tensor();
  };
  return {
      {"sample", model.forward(vector.input("hidden_states"), vector.input("encoder_hidden_states"),
                               vector.input("timestep"), optional_input("encoder_attention_mask"),
                               optional_input("resolution"), optional_input("aspect_ratio"))}};
}

}  // namespace xdit::verify
