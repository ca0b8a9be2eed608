#pragma once
// The safetensors layout (https://github.com/huggingface/safetensors): a u64
// little-endian header length, a JSON header, then the raw tensor bytes.
// Parsing and validating it needs nothing but c10's ScalarType, so that the
// fuzz target can build this file with clang and link only libc10, not all of
// LibTorch.

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xdit::io {

// Larger headers are refused before parsing (the format's own limit).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  std::string dtype_name;  // as written in the header, e.g. "BF16"
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in the order of their data offsets
  std::map<std::string, std::string> metadata;
};

// A header together with where the data section starts in the file.
struct SafetensorsLayout {
  SafetensorsHeader header;
  uint64_t data_offset = 0;
};

// Parses and validates a header against the size of the data section that
// follows it: every tensor's bytes lie inside the data, back to back, and match
// its shape and dtype exactly. Throws FileError naming `source` (and the
// tensor) on any fault, and nothing else, whatever the bytes.
SafetensorsHeader parse_safetensors_header(std::string_view header, uint64_t data_size,
                                           const std::string& source);

// The same for the bytes of a whole file, length prefix included.
SafetensorsLayout parse_safetensors_layout(std::string_view file, const std::string& source);

// The header's name for a scalar type, or nullopt when the format (or this
// engine) has none.
std::optional<std::string_view> safetensors_dtype_name(at::ScalarType type);

}  // namespace xdit::io
