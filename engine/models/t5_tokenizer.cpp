#include "models/t5_tokenizer.hpp"

#include <ATen/ATen.h>
#include <locale.h>
#include <wctype.h>

#include <algorithm>

#include "core/error.hpp"

namespace xdit::models {
namespace {

// transformers stores special tokens as plain strings or as AddedToken
// objects whose text is "content".
std::string special_token(const io::Config& config, const char* key, const std::string& fallback) {
  if (!config.has(key))
    return fallback;
  const nlohmann::json& value = config.json().at(key);
  if (value.is_string())
    return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value.at("content").is_string()) {
    return value.at("content").get<std::string>();
  }
  config.fail(key, "must be a string or an object with a string \"content\"");
}

// Python's str.isspace() code points, which str.strip() removes.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

bool is_ascii_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

// One UTF-8 sequence from `text` at `pos`: its code point and length, or
// nullopt code point for a byte that starts no valid sequence (kept as is).
struct Utf8Char {
  std::optional<char32_t> code_point;
  size_t length;
};

Utf8Char decode_utf8(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80)
    return {lead, 1};
  const size_t length = lead >= 0xF0 && lead < 0xF5 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0;
  if (length == 0 || lead >= 0xF5 || pos + length > text.size())
    return {std::nullopt, 1};
  char32_t c = lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80)
      return {std::nullopt, 1};
    c = (c << 6) | (byte(pos + i) & 0x3F);
  }
  const bool overlong = (length == 3 && c < 0x800) || (length == 4 && c < 0x10000);
  if (overlong || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
    return {std::nullopt, 1};
  return {c, length};
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// Unicode simple lower-case mapping from the C.UTF-8 locale, created once and
// never installed globally; ASCII only if the system lacks that locale.
char32_t to_lower(char32_t c) {
  static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  if (utf8 != static_cast<locale_t>(nullptr)) {
    return static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), utf8));
  }
  return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

}  // namespace

T5TokenizerOptions T5TokenizerOptions::from_config(const io::Config& config) {
  T5TokenizerOptions options;
  options.eos_token = special_token(config, "eos_token", options.eos_token);
  options.pad_token = special_token(config, "pad_token", options.pad_token);
  options.unk_token = special_token(config, "unk_token", options.unk_token);
  options.extra_ids = config.get_or<int64_t>("extra_ids", options.extra_ids);
  if (options.extra_ids < 0)
    config.fail("extra_ids", "must not be negative");
  // Often 1e30 ("no limit"), which no integer type holds: left empty then.
  if (const auto limit = config.get_optional<double>("model_max_length")) {
    if (!(*limit >= 1.0))
      config.fail("model_max_length", "must be at least 1");
    if (*limit < static_cast<double>(int64_t{1} << 53)) {
      options.model_max_length = static_cast<int64_t>(*limit);
    }
  }
  return options;
}

T5Tokenizer T5Tokenizer::from_folder(const std::filesystem::path& folder) {
  const std::filesystem::path model_path = folder / "spiece.model";
  if (!std::filesystem::is_regular_file(model_path)) {
    throw FileError(model_path.string(), "missing: a T5 tokenizer folder needs spiece.model");
  }
  const std::filesystem::path config_path = folder / "tokenizer_config.json";
  T5TokenizerOptions options;
  if (std::filesystem::exists(config_path)) {
    options = T5TokenizerOptions::from_config(io::Config::from_file(config_path));
  }
  return T5Tokenizer(SentencePieceModel::from_file(model_path), std::move(options));
}

T5Tokenizer T5Tokenizer::from_serialized(const std::string& model_proto, T5TokenizerOptions options,
                                         const std::string& source) {
  return T5Tokenizer(SentencePieceModel(model_proto, source), std::move(options));
}

T5Tokenizer::T5Tokenizer(SentencePieceModel model, T5TokenizerOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
  // transformers maps special tokens through the SentencePiece vocabulary
  // (an absent one becomes <unk>); only the sentinels lie beyond it.
  eos_id_ = model_.piece_to_id(options_.eos_token);
  pad_id_ = model_.piece_to_id(options_.pad_token);
  unk_id_ = model_.piece_to_id(options_.unk_token);
  special_tokens_ = {{options_.eos_token, eos_id_, false},
                     {options_.pad_token, pad_id_, false},
                     {options_.unk_token, unk_id_, false}};
  for (int64_t i = 0; i < options_.extra_ids; ++i) {
    special_tokens_.push_back({"<extra_id_" + std::to_string(i) + ">", vocab_size() - 1 - i, true});
  }
}

int64_t T5Tokenizer::vocab_size() const {
  return model_.piece_size() + options_.extra_ids;
}

std::vector<int64_t> T5Tokenizer::tokenize(std::string_view text) const {
  // Split at special tokens, leftmost and then longest first, as
  // transformers' added-token trie does.
  struct Chunk {
    std::string_view text;
    const SpecialToken* special;
  };
  std::vector<Chunk> chunks;
  size_t start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const SpecialToken* match = nullptr;
    for (const auto& token : special_tokens_) {
      if (!token.text.empty() && text.substr(pos, token.text.size()) == token.text &&
          (match == nullptr || token.text.size() > match->text.size())) {
        match = &token;
      }
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    chunks.push_back({text.substr(start, pos - start), nullptr});
    chunks.push_back({text.substr(pos, match->text.size()), match});
    pos += match->text.size();
    start = pos;
  }
  chunks.push_back({text.substr(start), nullptr});

  // Sentinels swallow the whitespace around them (AddedToken lstrip/rstrip).
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (chunks[i].special == nullptr || !chunks[i].special->strips_neighbours)
      continue;
    std::string_view& left = chunks[i - 1].text;  // a special chunk is never first or last
    std::string_view& right = chunks[i + 1].text;
    while (!left.empty() && is_ascii_space(left.back()))
      left.remove_suffix(1);
    while (!right.empty() && is_ascii_space(right.front()))
      right.remove_prefix(1);
  }

  std::vector<int64_t> ids;
  for (const Chunk& chunk : chunks) {
    if (chunk.special != nullptr) {
      ids.push_back(chunk.special->id);
    } else if (!chunk.text.empty()) {
      model_.encode(chunk.text, ids);
    }
  }
  return ids;
}

T5Tokens T5Tokenizer::encode(const std::vector<std::string>& prompts, int64_t max_length) const {
  if (max_length < 1) {
    throw UsageError("T5Tokenizer: max_length must be at least 1, got " +
                     std::to_string(max_length));
  }
  const auto batch = static_cast<int64_t>(prompts.size());
  at::Tensor input_ids = at::full({batch, max_length}, pad_id_, at::TensorOptions(at::kLong));
  at::Tensor attention_mask = at::zeros({batch, max_length}, at::TensorOptions(at::kLong));
  auto ids_rows = input_ids.accessor<int64_t, 2>();
  auto mask_rows = attention_mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> ids = tokenize(prompts[b]);
    // Truncation leaves room for eos, which transformers then adds only if
    // the ids do not already end with it.
    if (static_cast<int64_t>(ids.size()) > max_length - 1)
      ids.resize(max_length - 1);
    if (ids.empty() || ids.back() != eos_id_)
      ids.push_back(eos_id_);
    for (size_t i = 0; i < ids.size(); ++i) {
      ids_rows[b][i] = ids[i];
      mask_rows[b][i] = 1;
    }
  }
  return {input_ids, attention_mask};
}

std::string preprocess_prompt(std::string_view text) {
  // The byte range from the first to the end of the last non-space character.
  size_t begin = text.size();
  size_t end = 0;
  for (size_t pos = 0; pos < text.size();) {
    const Utf8Char c = decode_utf8(text, pos);
    if (!c.code_point || !is_python_space(*c.code_point)) {
      begin = std::min(begin, pos);
      end = pos + c.length;
    }
    pos += c.length;
  }
  std::string out;
  out.reserve(text.size());
  for (size_t pos = begin; pos < end;) {
    const Utf8Char c = decode_utf8(text, pos);
    if (c.code_point) {
      append_utf8(out, to_lower(*c.code_point));
    } else {
      out += text[pos];
    }
    pos += c.length;
  }
  return out;
}

}  // namespace xdit::models
