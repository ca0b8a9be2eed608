#include "models/clip_text_model.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {

Outputs run_clip_case(const io::ReferenceVector& vector, at::ScalarType dtype) {
  const models::ClipTextConfig config = models::ClipTextConfig::from_config(vector.config());
  const io::Weights weights = vector.weights(dtype);
  const bool with_projection = vector.class_name() == "CLIPTextModelWithProjection";
  const models::ClipTextModel model(config, weights, with_projection);
  weights.expect_all_used();
  const models::ClipTextOutput out = model.forward(vector.input("input_ids"));
  Outputs outputs = {{"last_hidden_state", out.last_hidden_state},
                     {"hidden_states_penultimate", out.penultimate},
                     {"pooler_output", out.pooled}};
  if (with_projection)
    outputs["text_embeds"] = out.text_embeds;
  return outputs;
}

}  // namespace xdit::verify
