#pragma once
// The T5 tokenizer as the PixArt pipelines call it: transformers' slow
// T5Tokenizer (legacy mode) over SentencePiece, with
// `tokenizer(prompts, padding="max_length", max_length=N, truncation=True,
// add_special_tokens=True)`. Literal special tokens in a prompt (`</s>`,
// `<pad>`, `<unk>`, `<extra_id_N>`) become their ids as in transformers; the
// text between them is encoded by SentencePiece chunk by chunk.
// Not reproduced: the non-legacy mode (tokenizer_config "legacy": false),
// which differs only for text right after a literal special token.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/config.hpp"
#include "models/sentencepiece_model.hpp"

namespace xdit::models {

struct T5TokenizerOptions {
  std::string eos_token = "</s>";
  std::string pad_token = "<pad>";
  std::string unk_token = "<unk>";
  // Sentinels <extra_id_0..N-1>, numbered down from the end of the vocabulary.
  int64_t extra_ids = 100;
  // Informational: the pipelines always pass max_length. Empty when the
  // config says "unlimited" (transformers writes 1e30 for that).
  std::optional<int64_t> model_max_length;

  // From a tokenizer_config.json; special tokens may be strings or
  // AddedToken objects ({"content": ...}). ConfigError on malformed values.
  static T5TokenizerOptions from_config(const io::Config& config);
};

struct T5Tokens {
  at::Tensor input_ids;       // [B, max_length] int64
  at::Tensor attention_mask;  // [B, max_length] int64, 1 for tokens and eos, 0 for padding
};

class T5Tokenizer {
 public:
  // A diffusers `tokenizer/` folder: spiece.model, and tokenizer_config.json
  // when present. FileError naming spiece.model when it is missing or corrupt.
  static T5Tokenizer from_folder(const std::filesystem::path& folder);
  // A serialized SentencePiece ModelProto; `source` names it in errors.
  static T5Tokenizer from_serialized(const std::string& model_proto,
                                     T5TokenizerOptions options = {},
                                     const std::string& source = "in-memory SentencePiece model");

  // The ids of one text without eos (transformers' tokenize + convert_tokens_to_ids).
  std::vector<int64_t> tokenize(std::string_view text) const;

  // Each prompt: its ids, truncated to max_length - 1, then eos unless the
  // ids already end with it, then padded with pad id / mask 0 to max_length.
  // PixArt-α passes max_length 120, PixArt-Σ 300. The prompts are taken as
  // given: the pipelines first apply preprocess_prompt().
  T5Tokens encode(const std::vector<std::string>& prompts, int64_t max_length) const;

  int64_t pad_id() const { return pad_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t unk_id() const { return unk_id_; }
  // SentencePiece pieces plus the sentinels: the smallest embedding that
  // every id fits (T5 checkpoints round their vocab_size up beyond it).
  int64_t vocab_size() const;
  const T5TokenizerOptions& options() const { return options_; }

 private:
  T5Tokenizer(SentencePieceModel model, T5TokenizerOptions options);

  struct SpecialToken {
    std::string text;
    int64_t id;
    bool strips_neighbours;  // transformers' lstrip/rstrip (the sentinels)
  };

  SentencePieceModel model_;
  T5TokenizerOptions options_;
  std::vector<SpecialToken> special_tokens_;
  int64_t pad_id_ = 0;
  int64_t eos_id_ = 1;
  int64_t unk_id_ = 2;
};

// diffusers' `_text_preprocessing(text, clean_caption=False)` of the PixArt
// pipelines: Python's str.lower() then str.strip(). Lower-casing maps each
// code point by the Unicode simple case mapping (Python's few one-to-many
// mappings, such as U+0130, and the final-sigma rule are not reproduced).
std::string preprocess_prompt(std::string_view text);

}  // namespace xdit::models
