#include "models/sentencepiece_model.hpp"

#include <dlfcn.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "core/error.hpp"

// The bridge as built; set by engine/CMakeLists.txt.
#ifndef XDIT_SENTENCEPIECE_BRIDGE
#define XDIT_SENTENCEPIECE_BRIDGE "libxdit_sentencepiece_bridge.so"
#endif

namespace xdit::models {
namespace {

constexpr const char* kBridgeName = "libxdit_sentencepiece_bridge.so";
constexpr size_t kErrorSize = 512;

struct Bridge {
#define XDIT_BRIDGE_MEMBER(name) decltype(&::name) name = nullptr;
  XDIT_SENTENCEPIECE_SYMBOLS(XDIT_BRIDGE_MEMBER)
#undef XDIT_BRIDGE_MEMBER
};

// Installed beside the executable's prefix (bin/ -> lib/xdit/), else the
// build tree's copy.
std::vector<std::filesystem::path> bridge_candidates() {
  std::vector<std::filesystem::path> candidates;
  std::error_code error;
  const auto executable = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error)
    candidates.push_back(executable.parent_path() / ".." / "lib" / "xdit" / kBridgeName);
  candidates.emplace_back(XDIT_SENTENCEPIECE_BRIDGE);
  return candidates;
}

Bridge load_bridge() {
  std::string tried;
  for (const auto& path : bridge_candidates()) {
    // RTLD_DEEPBIND binds sentencepiece to its own protobuf, not LibTorch's.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (handle == nullptr) {
      const char* reason = dlerror();
      tried += "\n  " + path.string() + ": " + (reason != nullptr ? reason : "not loadable");
      continue;
    }
    Bridge bridge;
    bool complete = true;
#define XDIT_BRIDGE_RESOLVE(name)                                              \
  bridge.name = reinterpret_cast<decltype(bridge.name)>(dlsym(handle, #name)); \
  complete = complete && bridge.name != nullptr;
    XDIT_SENTENCEPIECE_SYMBOLS(XDIT_BRIDGE_RESOLVE)
#undef XDIT_BRIDGE_RESOLVE
    // The handle stays open for the life of the process.
    if (complete)
      return bridge;
    tried += "\n  " + path.string() + ": lacks the bridge's functions";
    dlclose(handle);
  }
  throw FileError(kBridgeName, "cannot be loaded, and SentencePiece needs it; tried:" + tried);
}

const Bridge& bridge() {
  // A failed load throws out of the initialiser, so a later call retries.
  static const Bridge loaded = load_bridge();
  return loaded;
}

std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw FileError(path.string(), "cannot be opened");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad())
    throw FileError(path.string(), "could not be read");
  return bytes.str();
}

// The ModelProto wire format, for make_tiny_sentencepiece_model.

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7F) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

enum WireType : uint32_t { kVarint = 0, kLengthDelimited = 2, kFixed32 = 5 };

void put_tag(std::string& out, uint32_t field, WireType type) {
  put_varint(out, (uint64_t{field} << 3) | type);
}

// int32 fields encode negative values as 64-bit two's complement varints.
void put_int_field(std::string& out, uint32_t field, int64_t value) {
  put_tag(out, field, kVarint);
  put_varint(out, static_cast<uint64_t>(value));
}

void put_bytes_field(std::string& out, uint32_t field, std::string_view bytes) {
  put_tag(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out.append(bytes);
}

void put_float_field(std::string& out, uint32_t field, float value) {
  put_tag(out, field, kFixed32);
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  for (int shift = 0; shift < 32; shift += 8)
    out += static_cast<char>((bits >> shift) & 0xFF);
}

// sentencepiece_model.proto field numbers and enum values.
constexpr uint32_t kModelPieces = 1, kModelTrainerSpec = 2, kModelNormalizerSpec = 3;
constexpr uint32_t kPieceText = 1, kPieceScore = 2, kPieceType = 3;
constexpr int64_t kTypeNormal = 1, kTypeUnknown = 2, kTypeControl = 3;
constexpr uint32_t kTrainerModelType = 3, kTrainerVocabSize = 4, kTrainerUnkId = 40,
                   kTrainerBosId = 41, kTrainerEosId = 42, kTrainerPadId = 43;
constexpr int64_t kModelTypeUnigram = 1;
constexpr uint32_t kNormalizerName = 1, kNormalizerAddDummyPrefix = 3,
                   kNormalizerRemoveExtraWhitespaces = 4, kNormalizerEscapeWhitespaces = 5;

constexpr const char* kWordBoundary = "\xE2\x96\x81";  // U+2581, SentencePiece's space

constexpr const char* kCommonWords[] = {
    "a",         "the",     "of",       "and",      "in",      "with",      "on",        "at",
    "an",        "is",      "to",       "by",       "photo",   "painting",  "portrait",  "picture",
    "cat",       "dog",     "bird",     "horse",    "man",     "woman",     "child",     "people",
    "tree",      "forest",  "mountain", "river",    "sea",     "sky",       "cloud",     "sun",
    "moon",      "star",    "city",     "street",   "house",   "castle",    "car",       "boat",
    "red",       "blue",    "green",    "yellow",   "black",   "white",     "golden",    "dark",
    "light",     "small",   "large",    "old",      "young",   "beautiful", "detailed",  "high",
    "quality",   "style",   "art",      "digital",  "oil",     "realistic", "cinematic", "sunset",
    "night",     "morning", "water",    "flower",   "garden",  "field",     "snow",      "rain",
    "astronaut", "riding",  "sitting",  "standing", "wearing", "holding",   "under",     "over"};

constexpr const char* kSuffixes[] = {"s", "ing", "ed", "er", "ly", "es", "en", "est", "th", "ion"};

// The normal pieces in vocabulary order: the earlier, the higher the score.
std::vector<std::string> tiny_model_pieces(size_t count, const std::vector<std::string>& words) {
  std::vector<std::string> pieces;
  std::set<std::string> seen;
  const auto add = [&](std::string piece) {
    if (pieces.size() < count && seen.insert(piece).second)
      pieces.push_back(std::move(piece));
  };
  for (const auto& word : words)
    add(kWordBoundary + word);
  add(kWordBoundary);
  for (char c = 'a'; c <= 'z'; ++c)
    add(std::string(1, c));
  for (char c = '0'; c <= '9'; ++c)
    add(std::string(1, c));
  for (const char c : std::string_view(".,!?'\"-:;()/&+"))
    add(std::string(1, c));
  for (const char* word : kCommonWords)
    add(kWordBoundary + std::string(word));
  for (const char* suffix : kSuffixes)
    add(suffix);
  for (char c = 'a'; c <= 'z'; ++c)
    add(kWordBoundary + std::string(1, c));
  // Then every letter sequence of growing length, each bare and word-initial.
  std::vector<std::string> sequences(1, "");
  while (pieces.size() < count) {
    std::vector<std::string> longer;
    for (const auto& prefix : sequences) {
      if (pieces.size() >= count)
        break;
      for (char c = 'a'; c <= 'z'; ++c) {
        longer.push_back(prefix + c);
        if (longer.back().size() > 1) {
          add(longer.back());
          add(kWordBoundary + longer.back());
        }
      }
    }
    sequences = std::move(longer);
  }
  return pieces;
}

}  // namespace

void SentencePieceModel::Free::operator()(XditSentencePiece* processor) const {
  bridge().xdit_sentencepiece_free(processor);
}

SentencePieceModel::SentencePieceModel(std::string_view serialized, std::string source)
    : source_(std::move(source)) {
  char error[kErrorSize] = "";
  processor_.reset(
      bridge().xdit_sentencepiece_load(serialized.data(), serialized.size(), error, kErrorSize));
  if (!processor_) {
    throw FileError(source_, std::string("is not a valid SentencePiece model: ") + error);
  }
}

SentencePieceModel SentencePieceModel::from_file(const std::filesystem::path& path) {
  return SentencePieceModel(read_file_bytes(path), path.string());
}

int64_t SentencePieceModel::piece_size() const {
  return bridge().xdit_sentencepiece_piece_size(processor_.get());
}

int64_t SentencePieceModel::piece_to_id(std::string_view piece) const {
  return bridge().xdit_sentencepiece_piece_to_id(processor_.get(), piece.data(), piece.size());
}

void SentencePieceModel::encode(std::string_view text, std::vector<int64_t>& ids) const {
  const auto append = [](void* context, const int* piece_ids, size_t count) {
    static_cast<std::vector<int64_t>*>(context)->insert(
        static_cast<std::vector<int64_t>*>(context)->end(), piece_ids, piece_ids + count);
  };
  char error[kErrorSize] = "";
  if (bridge().xdit_sentencepiece_encode(processor_.get(), text.data(), text.size(), append, &ids,
                                         error, kErrorSize) != 0) {
    throw Error(source_ + ": SentencePiece could not encode a text: " + error);
  }
}

std::string make_tiny_sentencepiece_model(int vocab_size, const std::vector<std::string>& words) {
  constexpr int kSpecialPieces = 3;
  if (vocab_size < kSpecialPieces + 1) {
    throw UsageError("make_tiny_sentencepiece_model: vocab_size must be at least 4, got " +
                     std::to_string(vocab_size));
  }
  std::string model;
  const auto put_piece = [&](std::string_view text, float score, int64_t type) {
    std::string piece;
    put_bytes_field(piece, kPieceText, text);
    put_float_field(piece, kPieceScore, score);
    put_int_field(piece, kPieceType, type);
    put_bytes_field(model, kModelPieces, piece);
  };
  put_piece("<pad>", 0.0f, kTypeControl);
  put_piece("</s>", 0.0f, kTypeControl);
  put_piece("<unk>", 0.0f, kTypeUnknown);
  // Scores that are exact binary fractions keep the model identical across
  // compilers; each piece costs about -1, so Viterbi prefers fewer pieces.
  const auto pieces = tiny_model_pieces(static_cast<size_t>(vocab_size - kSpecialPieces), words);
  for (size_t i = 0; i < pieces.size(); ++i) {
    put_piece(pieces[i], -1.0f - static_cast<float>(i) / 1024.0f, kTypeNormal);
  }

  std::string trainer;
  put_int_field(trainer, kTrainerModelType, kModelTypeUnigram);
  put_int_field(trainer, kTrainerVocabSize, vocab_size);
  put_int_field(trainer, kTrainerUnkId, 2);
  put_int_field(trainer, kTrainerBosId, -1);
  put_int_field(trainer, kTrainerEosId, 1);
  put_int_field(trainer, kTrainerPadId, 0);
  put_bytes_field(model, kModelTrainerSpec, trainer);

  std::string normalizer;
  put_bytes_field(normalizer, kNormalizerName, "identity");
  put_int_field(normalizer, kNormalizerAddDummyPrefix, 1);
  put_int_field(normalizer, kNormalizerRemoveExtraWhitespaces, 1);
  put_int_field(normalizer, kNormalizerEscapeWhitespaces, 1);
  put_bytes_field(model, kModelNormalizerSpec, normalizer);
  return model;
}

}  // namespace xdit::models
