#include "pipelines/text_encoders.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"

namespace xdit::pipelines {

void expect_class(const io::ModelFolder& folder, std::string_view component,
                  std::initializer_list<std::string_view> accepted) {
  const std::string& name = folder.component(component).class_name;
  for (const auto& candidate : accepted) {
    if (name == candidate)
      return;
  }
  std::string names;
  for (const auto& candidate : accepted)
    names += (names.empty() ? "" : " or ") + std::string(candidate);
  throw ConfigError(folder.model_index().source(), std::string(component),
                    "is a '" + name + "'; a " + folder.class_name() + " needs " + names);
}

T5PromptEncoder::T5PromptEncoder(const io::ModelFolder& folder, std::string_view tokenizer,
                                 std::string_view encoder, const EncoderPlacement& placement) {
  expect_class(folder, tokenizer, {"T5Tokenizer", "T5TokenizerFast"});
  expect_class(folder, encoder, {"T5EncoderModel"});
  tokenizer_ = std::make_unique<models::T5Tokenizer>(
      models::T5Tokenizer::from_folder(folder.directory(tokenizer)));
  encoder_ = load_component<models::T5Encoder, models::T5Config>(folder, encoder, placement);
}

T5Embeddings T5PromptEncoder::encode(const std::vector<std::string>& texts, int64_t max_length,
                                     bool masked) const {
  const models::T5Tokens tokens = tokenizer_->encode(texts, max_length);
  return {encoder_->forward(tokens.input_ids, masked ? tokens.attention_mask : at::Tensor()),
          tokens.attention_mask};
}

ClipPromptEncoder::ClipPromptEncoder(const io::ModelFolder& folder, std::string_view tokenizer,
                                     std::string_view encoder, bool with_projection,
                                     const EncoderPlacement& placement) {
  expect_class(folder, tokenizer, {"CLIPTokenizer", "CLIPTokenizerFast"});
  expect_class(folder, encoder,
               {with_projection ? "CLIPTextModelWithProjection" : "CLIPTextModel"});
  tokenizer_ = std::make_unique<models::ClipTokenizer>(
      models::ClipTokenizer::from_folder(folder.directory(tokenizer)));
  encoder_ = load_component<models::ClipTextModel, models::ClipTextConfig>(
      folder, encoder, placement, with_projection);
}

models::ClipTextOutput ClipPromptEncoder::encode(const std::vector<std::string>& texts) const {
  std::vector<int64_t> ids;
  for (const auto& text : texts) {
    const std::vector<int64_t> row = tokenizer_->encode(text, kMaxLength);
    ids.insert(ids.end(), row.begin(), row.end());
  }
  const auto rows = static_cast<int64_t>(texts.size());
  return encoder_->forward(at::tensor(ids, at::kLong).view({rows, kMaxLength}));
}

}  // namespace xdit::pipelines
