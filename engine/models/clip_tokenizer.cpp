#include "models/clip_tokenizer.hpp"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "io/config.hpp"

namespace xdit::models {
namespace {

// transformers reads at most this many merges (CLIP's table minus the
// bytes and the two special tokens).
constexpr size_t kMaxMerges = 49152 - 256 - 2;
// What the regex matches literally, before any other rule.
constexpr std::u32string_view kLiteralTokens[] = {U"<|startoftext|>", U"<|endoftext|>"};
// CLIP's contractions, in the regex's order.
constexpr std::u32string_view kContractions[] = {U"'s", U"'t",  U"'re", U"'ve",
                                                 U"'m", U"'ll", U"'d"};

std::u32string to_utf32(std::string_view text) {
  // Ill-formed UTF-8 becomes U+FFFD, which the clean-up drops.
  const icu::UnicodeString s = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  std::u32string out;
  for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1))
    out.push_back(static_cast<char32_t>(s.char32At(i)));
  return out;
}

icu::UnicodeString to_icu(const std::u32string& text) {
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(text.data()),
                                       static_cast<int32_t>(text.size()));
}

std::string to_utf8(const std::u32string& text) {
  std::string out;
  return to_icu(text).toUTF8String(out);
}

bool in_category(char32_t c, uint32_t mask) {
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & mask) != 0;
}
bool is_letter(char32_t c) {
  return in_category(c, U_GC_L_MASK);
}
bool is_number(char32_t c) {
  return in_category(c, U_GC_N_MASK);
}

// Python's str.isspace(), which str.split() splits on.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// BasicTokenizer._clean_text: NUL, U+FFFD and control characters (category
// C*, but tab, newline and return) go; tab, newline, return and space
// separators become spaces.
std::u32string clean_text(const std::u32string& text) {
  std::u32string out;
  for (const char32_t c : text) {
    const bool whitespace =
        c == U' ' || c == U'\t' || c == U'\n' || c == U'\r' || in_category(c, U_GC_ZS_MASK);
    if (c == 0 || c == 0xFFFD || (!whitespace && in_category(c, U_GC_C_MASK)))
      continue;
    out.push_back(whitespace ? U' ' : c);
  }
  return out;
}

// The CJK ideograph blocks BasicTokenizer spaces out (not Hangul, kana).
bool is_cjk_ideograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::u32string nfc(const std::u32string& text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFCInstance(status);
  const icu::UnicodeString normalized = normalizer->normalize(to_icu(text), status);
  if (U_FAILURE(status))
    throw Error(std::string("CLIP tokenizer: NFC normalisation failed: ") + u_errorName(status));
  std::string utf8;
  return to_utf32(normalized.toUTF8String(utf8));
}

// Python's str.lower(): full case mapping (İ becomes i and a combining dot,
// a final Σ becomes ς), the same in every locale.
std::u32string lower(const std::u32string& word) {
  icu::UnicodeString s = to_icu(word);
  s.toLower(icu::Locale::getRoot());
  std::string utf8;
  return to_utf32(s.toUTF8String(utf8));
}

// BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize,
// joined by spaces as CLIPTokenizer does.
std::u32string basic_clean(std::string_view text) {
  std::u32string spaced;
  for (const char32_t c : clean_text(to_utf32(text))) {
    if (is_cjk_ideograph(c)) {
      spaced += U' ';
      spaced += c;
      spaced += U' ';
    } else {
      spaced += c;
    }
  }
  const std::u32string normalized = nfc(spaced);
  std::u32string joined;
  size_t i = 0;
  while (i < normalized.size()) {
    if (is_python_space(normalized[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < normalized.size() && !is_python_space(normalized[end]))
      ++end;
    if (!joined.empty())
      joined += U' ';
    joined += lower(normalized.substr(i, end - i));
    i = end;
  }
  return joined;
}

bool starts_with(const std::u32string& text, size_t at, std::u32string_view prefix) {
  return text.compare(at, prefix.size(), prefix) == 0;
}

// CLIP's pattern, as the `regex` module runs it: at each position the first
// alternative that matches, in this order.
std::vector<std::u32string> split_words(const std::u32string& text) {
  std::vector<std::u32string> words;
  size_t i = 0;
  while (i < text.size()) {
    const char32_t c = text[i];
    size_t end = i;
    const auto literal = [&](std::u32string_view token) {
      if (end == i && starts_with(text, i, token))
        end = i + token.size();
    };
    for (const auto token : kLiteralTokens)
      literal(token);
    for (const auto token : kContractions)
      literal(token);
    if (end == i && is_letter(c)) {
      while (end < text.size() && is_letter(text[end]))
        ++end;
    } else if (end == i && is_number(c)) {
      end = i + 1;
    } else if (end == i && !u_isUWhiteSpace(static_cast<UChar32>(c))) {
      while (end < text.size() && !is_letter(text[end]) && !is_number(text[end]) &&
             !u_isUWhiteSpace(static_cast<UChar32>(text[end]))) {
        ++end;
      }
    }
    if (end == i) {
      ++i;  // whitespace between words
      continue;
    }
    words.push_back(text.substr(i, end - i));
    i = end;
  }
  return words;
}

// GPT-2's reversible map of bytes to printable characters, which CLIP
// shares: printable Latin-1 bytes stand for themselves, the others for
// U+0100 on, in byte order. Each as UTF-8.
const std::array<std::string, 256>& byte_symbols() {
  static const std::array<std::string, 256> symbols = [] {
    std::array<std::string, 256> table;
    const auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const char32_t c = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(next++);
      table[b] = to_utf8(std::u32string(1, c));
    }
    return table;
  }();
  return symbols;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw FileError(path.string(), "cannot be opened (a CLIP tokenizer needs it)");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Python's str.strip() of ASCII whitespace, enough for a merges file.
std::string_view strip(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return s;
}

std::vector<std::pair<std::string, std::string>> read_merges(const std::filesystem::path& path) {
  const std::string text = read_text(path);
  std::vector<std::pair<std::string, std::string>> merges;
  std::istringstream lines{std::string(strip(text))};
  std::string line;
  std::getline(lines, line);  // "#version: 0.2", skipped whatever it says, as transformers does
  int line_number = 1;
  while (merges.size() < kMaxMerges && std::getline(lines, line)) {
    ++line_number;
    std::istringstream parts(line);
    std::string first, second, extra;
    if (!(parts >> first >> second) || (parts >> extra)) {
      throw FileError(path.string(), "line " + std::to_string(line_number) +
                                         " is not a merge of two symbols: '" + line + "'");
    }
    merges.emplace_back(std::move(first), std::move(second));
  }
  return merges;
}

std::unordered_map<std::string, int64_t> read_vocab(const std::filesystem::path& path) {
  const nlohmann::json json = io::parse_json(read_text(path), path.string());
  if (!json.is_object())
    throw FileError(path.string(), "is not a JSON object of token: id");
  std::unordered_map<std::string, int64_t> vocab;
  for (const auto& [token, id] : json.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0)
      throw FileError(path.string(), "token '" + token + "' has no non-negative integer id");
    vocab[token] = id.get<int64_t>();
  }
  return vocab;
}

// A special token as tokenizer files write it: "text" or {"content": "text"}.
void read_special(const nlohmann::json& json, const char* key, std::string& out) {
  if (!json.contains(key))
    return;
  const nlohmann::json& value = json[key];
  if (value.is_string())
    out = value.get<std::string>();
  else if (value.is_object() && value.contains("content") && value["content"].is_string())
    out = value["content"].get<std::string>();
}

ClipSpecialTokens read_special_tokens(const std::filesystem::path& folder) {
  ClipSpecialTokens special;
  // special_tokens_map.json wins, as transformers reads it after the config.
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const std::filesystem::path path = folder / name;
    if (!std::filesystem::exists(path))
      continue;
    const nlohmann::json json = io::read_json_file(path);
    if (!json.is_object())
      throw FileError(path.string(), "is not a JSON object");
    read_special(json, "bos_token", special.bos);
    read_special(json, "eos_token", special.eos);
    read_special(json, "unk_token", special.unk);
    read_special(json, "pad_token", special.pad);
  }
  return special;
}

}  // namespace

ClipTokenizer ClipTokenizer::from_folder(const std::filesystem::path& folder) {
  // In this order, so that the first file missing is the one named.
  auto vocab = read_vocab(folder / "vocab.json");
  auto merges = read_merges(folder / "merges.txt");
  return ClipTokenizer(std::move(vocab), std::move(merges), read_special_tokens(folder),
                       (folder / "vocab.json").string());
}

ClipTokenizer::ClipTokenizer(std::unordered_map<std::string, int64_t> vocab,
                             std::vector<std::pair<std::string, std::string>> merges,
                             ClipSpecialTokens special, const std::string& source)
    : vocab_(std::move(vocab)), special_(std::move(special)) {
  for (size_t rank = 0; rank < merges.size(); ++rank)
    ranks_.emplace(std::move(merges[rank]), static_cast<int64_t>(rank));
  bos_id_ = id_of(special_.bos, source);
  eos_id_ = id_of(special_.eos, source);
  unk_id_ = id_of(special_.unk, source);
  pad_id_ = id_of(special_.pad, source);
}

int64_t ClipTokenizer::id_of(const std::string& token, const std::string& source) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end())
    throw FileError(source, "has no id for the special token '" + token + "'");
  return it->second;
}

std::vector<std::string> ClipTokenizer::bpe(const std::string& word) const {
  std::vector<std::string> symbols;
  // Each symbol is one mapped byte: one code point of one or two UTF-8 bytes.
  for (size_t i = 0; i < word.size();) {
    const size_t length = (static_cast<unsigned char>(word[i]) & 0x80) ? 2 : 1;
    symbols.push_back(word.substr(i, length));
    i += length;
  }
  symbols.back() += "</w>";
  while (symbols.size() > 1) {
    // The adjacent pair of the lowest rank; all its occurrences merge.
    int64_t best = std::numeric_limits<int64_t>::max();
    const std::pair<std::string, std::string>* best_pair = nullptr;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto it = ranks_.find({symbols[i], symbols[i + 1]});
      if (it != ranks_.end() && it->second < best) {
        best = it->second;
        best_pair = &it->first;
      }
    }
    if (best_pair == nullptr)
      break;
    std::vector<std::string> merged;
    for (size_t i = 0; i < symbols.size(); ++i) {
      if (i + 1 < symbols.size() && symbols[i] == best_pair->first &&
          symbols[i + 1] == best_pair->second) {
        merged.push_back(symbols[i] + symbols[i + 1]);
        ++i;
      } else {
        merged.push_back(symbols[i]);
      }
    }
    symbols = std::move(merged);
  }
  return symbols;
}

void ClipTokenizer::tokenize_plain(std::string_view text, std::vector<std::string>& out) const {
  const auto& symbols = byte_symbols();
  for (const std::u32string& word : split_words(basic_clean(text))) {
    const std::string utf8 = to_utf8(word);
    if (std::find(std::begin(kLiteralTokens), std::end(kLiteralTokens), word) !=
        std::end(kLiteralTokens)) {
      out.push_back(utf8);
      continue;
    }
    std::string mapped;
    for (const unsigned char byte : utf8)
      mapped += symbols[byte];
    for (std::string& piece : bpe(mapped))
      out.push_back(std::move(piece));
  }
}

std::vector<std::string> ClipTokenizer::tokenize(std::string_view text) const {
  // Special tokens written in the text stay whole (transformers splits them
  // out first, the longest at the earliest position).
  const std::string* specials[] = {&special_.bos, &special_.eos, &special_.unk, &special_.pad};
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t at = std::string_view::npos;
    const std::string* found = nullptr;
    for (const std::string* special : specials) {
      const size_t position = special->empty() ? std::string_view::npos : text.find(*special);
      if (position < at || (position == at && found && special->size() > found->size())) {
        at = position;
        found = special;
      }
    }
    tokenize_plain(text.substr(0, at), out);
    if (found == nullptr)
      break;
    out.push_back(*found);
    text.remove_prefix(at + found->size());
  }
  return out;
}

std::vector<int64_t> ClipTokenizer::ids(std::string_view text) const {
  std::vector<int64_t> ids;
  for (const std::string& token : tokenize(text)) {
    const auto it = vocab_.find(token);
    ids.push_back(it == vocab_.end() ? unk_id_ : it->second);
  }
  return ids;
}

std::vector<int64_t> ClipTokenizer::encode(std::string_view text, int64_t max_length) const {
  if (max_length < 2) {
    throw UsageError("CLIP tokenizer: max_length " + std::to_string(max_length) +
                     " leaves no room for the start and end tokens");
  }
  std::vector<int64_t> encoded{bos_id_};
  const std::vector<int64_t> body = ids(text);
  const auto kept = std::min<int64_t>(static_cast<int64_t>(body.size()), max_length - 2);
  encoded.insert(encoded.end(), body.begin(), body.begin() + kept);
  encoded.push_back(eos_id_);
  encoded.resize(static_cast<size_t>(max_length), pad_id_);
  return encoded;
}

ClipVocabularyFiles make_tiny_clip_vocabulary() {
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  const auto add = [&](const std::string& token) {
    if (!vocab.contains(token))
      vocab[token] = static_cast<int64_t>(vocab.size());
  };
  for (const std::string& symbol : byte_symbols())
    add(symbol);
  for (const std::string& symbol : byte_symbols())
    add(symbol + "</w>");
  // Merges of some frequent English pairs, each adding its result.
  const std::pair<const char*, const char*> merges[] = {
      {"t", "h"},     {"th", "e</w>"}, {"a", "n"},     {"i", "n"},      {"e", "r</w>"},
      {"o", "n</w>"}, {"an", "d</w>"}, {"o", "f</w>"}, {"in", "g</w>"}, {"a", "t</w>"}};
  std::string merges_txt = "#version: 0.2\n";
  for (const auto& [first, second] : merges) {
    add(std::string(first) + second);
    merges_txt += std::string(first) + " " + second + "\n";
  }
  add("<|startoftext|>");
  add("<|endoftext|>");
  ClipVocabularyFiles files;
  files.vocab_size = static_cast<int64_t>(vocab.size());
  files.eos_id = vocab["<|endoftext|>"].get<int64_t>();
  files.vocab_json = vocab.dump();
  files.merges_txt = std::move(merges_txt);
  return files;
}

}  // namespace xdit::models
