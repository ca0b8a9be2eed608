#pragma once
// A SentencePiece model (a serialized ModelProto, e.g. a T5 spiece.model),
// run by libsentencepiece through the isolated bridge library (see
// isolated/sentencepiece_bridge.hpp for why it cannot be linked directly).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "isolated/sentencepiece_bridge.hpp"

namespace xdit::models {

class SentencePieceModel {
 public:
  // `source` names the model in errors. FileError when the bytes are not a
  // SentencePiece model, or when the bridge library cannot be loaded.
  SentencePieceModel(std::string_view serialized, std::string source);
  static SentencePieceModel from_file(const std::filesystem::path& path);

  int64_t piece_size() const;
  // The unknown piece's id when there is no such piece, as in SentencePiece.
  int64_t piece_to_id(std::string_view piece) const;
  // Appends the ids of `text` (normalised, with the dummy prefix) to `ids`.
  void encode(std::string_view text, std::vector<int64_t>& ids) const;
  const std::string& source() const { return source_; }

 private:
  struct Free {
    void operator()(XditSentencePiece* processor) const;
  };
  std::unique_ptr<XditSentencePiece, Free> processor_;
  std::string source_;
};

// A small unigram model made without any download, for the built-in tiny
// pipeline and tests, with T5's special pieces <pad>=0, </s>=1, <unk>=2, then
// "▁", letters, digits, punctuation, common English words and generated
// letter sequences until `vocab_size` pieces. Written directly in the
// ModelProto wire format, so it is byte-identical on every run and machine.
// `words` come first as whole-word pieces: a vocabulary in which every word
// of a small language (the scene captions of data/scene.hpp) is one token.
std::string make_tiny_sentencepiece_model(int vocab_size,
                                          const std::vector<std::string>& words = {});

}  // namespace xdit::models
