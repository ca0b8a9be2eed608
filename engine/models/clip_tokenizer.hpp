#pragma once
// CLIP's byte-level BPE tokenizer, as transformers' CLIPTokenizer (the slow
// one, which SD3's and Flux's model_index.json name) runs without ftfy: the
// BasicTokenizer's clean-up (control characters dropped, CJK ideographs
// spaced, NFC, lower case), CLIP's split into words, numbers and runs of
// other characters, then byte-pair merges by rank with "</w>" ending each
// word. Unicode properties, normalisation and case mapping come from ICU.
// Reads a diffusers `tokenizer/` folder: vocab.json, merges.txt, and the
// special tokens from special_tokens_map.json / tokenizer_config.json.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace xdit::models {

struct ClipSpecialTokens {
  std::string bos = "<|startoftext|>";
  std::string eos = "<|endoftext|>";
  std::string unk = "<|endoftext|>";
  std::string pad = "<|endoftext|>";  // SD3's second CLIP pads with "!"
};

class ClipTokenizer {
 public:
  // FileError naming the file when vocab.json or merges.txt is missing or
  // malformed, or a special token is not in the vocabulary.
  static ClipTokenizer from_folder(const std::filesystem::path& folder);
  ClipTokenizer(std::unordered_map<std::string, int64_t> vocab,
                std::vector<std::pair<std::string, std::string>> merges, ClipSpecialTokens special,
                const std::string& source);

  // transformers' tokenize(): the BPE pieces ("photo</w>"), special tokens
  // written in the text kept whole.
  std::vector<std::string> tokenize(std::string_view text) const;
  // The pieces' ids (unknown pieces: the unk token's).
  std::vector<int64_t> ids(std::string_view text) const;
  // What the pipelines feed the text encoders: bos, the ids cut to
  // max_length - 2, eos, then pad up to max_length.
  std::vector<int64_t> encode(std::string_view text, int64_t max_length) const;

  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }

 private:
  // The merged pieces of one pre-tokenized word (bytes already mapped to
  // CLIP's printable characters).
  std::vector<std::string> bpe(const std::string& word) const;
  void tokenize_plain(std::string_view text, std::vector<std::string>& out) const;
  int64_t id_of(const std::string& token, const std::string& source) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::map<std::pair<std::string, std::string>, int64_t> ranks_;
  ClipSpecialTokens special_;
  int64_t bos_id_ = 0;
  int64_t eos_id_ = 0;
  int64_t unk_id_ = 0;
  int64_t pad_id_ = 0;
};

// The files of a small CLIP vocabulary for built-in models: every byte
// symbol alone and ending a word, a few merges of common English pairs, and
// the special tokens. Any text tokenizes with it.
struct ClipVocabularyFiles {
  std::string vocab_json;
  std::string merges_txt;
  int64_t vocab_size = 0;
  int64_t eos_id = 0;  // <|endoftext|>
};
ClipVocabularyFiles make_tiny_clip_vocabulary();

}  // namespace xdit::models
