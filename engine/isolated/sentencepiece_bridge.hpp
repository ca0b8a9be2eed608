#pragma once
// The C interface of libxdit_sentencepiece_bridge.so, the only binary that
// links libsentencepiece. That library carries and exports its own copy of
// protobuf 3.14, which cannot share a symbol lookup scope with the libprotobuf
// that LibTorch loads: whichever comes first breaks the other. The engine
// therefore dlopens this bridge with RTLD_DEEPBIND (SentencePieceModel), so
// that sentencepiece binds to its own copy, and calls it only through these
// functions: plain C types, no exception crosses them.

#include <cstddef>

extern "C" {

struct XditSentencePiece;

// Receives the ids of one encode call.
typedef void (*XditSentencePieceSink)(void* context, const int* ids, size_t count);

// A processor for a serialized ModelProto; null, with the reason in `error`
// (always terminated, truncated to error_size), when it does not load.
XditSentencePiece* xdit_sentencepiece_load(const char* model, size_t model_size, char* error,
                                           size_t error_size);
void xdit_sentencepiece_free(XditSentencePiece* processor);
int xdit_sentencepiece_piece_size(const XditSentencePiece* processor);
// The id of a piece, or the unknown piece's id when there is no such piece.
int xdit_sentencepiece_piece_to_id(const XditSentencePiece* processor, const char* piece,
                                   size_t piece_size);
// Encodes UTF-8 text into ids passed to `sink`; 0 on success, -1 with the
// reason in `error`.
int xdit_sentencepiece_encode(const XditSentencePiece* processor, const char* text,
                              size_t text_size, XditSentencePieceSink sink, void* context,
                              char* error, size_t error_size);

// The bridge's symbol names, for dlsym.
#define XDIT_SENTENCEPIECE_SYMBOLS(X) \
  X(xdit_sentencepiece_load)          \
  X(xdit_sentencepiece_free)          \
  X(xdit_sentencepiece_piece_size)    \
  X(xdit_sentencepiece_piece_to_id)   \
  X(xdit_sentencepiece_encode)
}
