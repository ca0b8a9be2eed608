#include "isolated/sentencepiece_bridge.hpp"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#define XDIT_BRIDGE_EXPORT __attribute__((visibility("default")))

struct XditSentencePiece {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

void report(char* error, size_t error_size, const char* what) {
  if (error != nullptr && error_size > 0)
    std::snprintf(error, error_size, "%s", what);
}

}  // namespace

extern "C" {

XDIT_BRIDGE_EXPORT XditSentencePiece* xdit_sentencepiece_load(const char* model, size_t model_size,
                                                              char* error, size_t error_size) {
  try {
    auto* loaded = new XditSentencePiece;
    const auto status =
        loaded->processor.LoadFromSerializedProto(std::string_view(model, model_size));
    if (status.ok())
      return loaded;
    report(error, error_size, status.message());
    delete loaded;
  } catch (const std::exception& e) {
    report(error, error_size, e.what());
  }
  return nullptr;
}

XDIT_BRIDGE_EXPORT void xdit_sentencepiece_free(XditSentencePiece* processor) {
  delete processor;
}

XDIT_BRIDGE_EXPORT int xdit_sentencepiece_piece_size(const XditSentencePiece* processor) {
  return processor->processor.GetPieceSize();
}

XDIT_BRIDGE_EXPORT int xdit_sentencepiece_piece_to_id(const XditSentencePiece* processor,
                                                      const char* piece, size_t piece_size) {
  return processor->processor.PieceToId(std::string_view(piece, piece_size));
}

XDIT_BRIDGE_EXPORT int xdit_sentencepiece_encode(const XditSentencePiece* processor,
                                                 const char* text, size_t text_size,
                                                 XditSentencePieceSink sink, void* context,
                                                 char* error, size_t error_size) {
  try {
    std::vector<int> ids;
    const auto status = processor->processor.Encode(std::string_view(text, text_size), &ids);
    if (!status.ok()) {
      report(error, error_size, status.message());
      return -1;
    }
    sink(context, ids.data(), ids.size());
    return 0;
  } catch (const std::exception& e) {
    report(error, error_size, e.what());
    return -1;
  }
}

}  // extern "C"
