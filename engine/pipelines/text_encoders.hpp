#pragma once
// The text encoders of the pipelines with their tokenizers, called as
// diffusers' pipelines call them: T5 (PixArt with its padding mask; SD3 and
// Flux over the whole padded sequence) and CLIP (SD3's two, Flux's one:
// 77 tokens, no mask).

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/model_folder.hpp"
#include "models/clip_text_model.hpp"
#include "models/clip_tokenizer.hpp"
#include "models/t5_encoder.hpp"
#include "models/t5_tokenizer.hpp"

namespace xdit::pipelines {

// Where and in what dtype the text encoders run.
struct EncoderPlacement {
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
};

// Loads a model from a folder component and checks that every tensor of the
// checkpoint was used: a key left over means the config does not describe
// the checkpoint.
template <typename Model, typename Config, typename... Extra>
std::unique_ptr<Model> load_component(const io::ModelFolder& folder, std::string_view component,
                                      const EncoderPlacement& placement, Extra... extra) {
  const Config config = Config::from_config(folder.config(component));
  const io::Weights weights =
      io::Weights(folder.weights(component), placement.dtype).to(placement.device);
  auto model = std::make_unique<Model>(config, weights, extra...);
  weights.expect_all_used();
  return model;
}

// ConfigError naming the component unless its class is one of `accepted`.
void expect_class(const io::ModelFolder& folder, std::string_view component,
                  std::initializer_list<std::string_view> accepted);

struct T5Embeddings {
  at::Tensor embeddings;  // [B, max_length, d_model]
  at::Tensor mask;        // [B, max_length] int64 keep-mask
};

class T5PromptEncoder {
 public:
  T5PromptEncoder(const io::ModelFolder& folder, std::string_view tokenizer,
                  std::string_view encoder, const EncoderPlacement& placement);
  // Each text padded (or cut) to `max_length` tokens. `masked`: the encoder
  // attends only to the tokens (PixArt), else to the padded sequence too.
  T5Embeddings encode(const std::vector<std::string>& texts, int64_t max_length, bool masked) const;
  int64_t width() const { return encoder_->config().d_model; }

 private:
  std::unique_ptr<models::T5Tokenizer> tokenizer_;
  std::unique_ptr<models::T5Encoder> encoder_;
};

class ClipPromptEncoder {
 public:
  static constexpr int64_t kMaxLength = 77;

  // `with_projection`: CLIPTextModelWithProjection (SD3), else CLIPTextModel.
  ClipPromptEncoder(const io::ModelFolder& folder, std::string_view tokenizer,
                    std::string_view encoder, bool with_projection,
                    const EncoderPlacement& placement);
  models::ClipTextOutput encode(const std::vector<std::string>& texts) const;

 private:
  std::unique_ptr<models::ClipTokenizer> tokenizer_;
  std::unique_ptr<models::ClipTextModel> encoder_;
};

}  // namespace xdit::pipelines
