// Feeds arbitrary bytes to the safetensors parser that SafetensorsFile runs
// on every mapped file: once as a whole file (length prefix, header, data) and
// once as a bare header over a data section as long as the input. The parser
// must throw FileError or return a layout that keeps every promise the tensor
// views rely on; anything else (another exception, a sanitizer report, a
// broken promise) is a crash.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.hpp"
#include "io/safetensors_header.hpp"

namespace {

void require(bool promise_kept) {
  if (!promise_kept)
    __builtin_trap();
}

// Each tensor lies inside the data, back to back with the previous one, and
// holds exactly its shape's bytes, which fit in int64 (SafetensorsFile hands
// these numbers to at::from_blob unchecked).
void check_promises(const xdit::io::SafetensorsHeader& header, uint64_t data_size) {
  uint64_t cursor = 0;
  for (const auto& tensor : header.tensors) {
    require(tensor.begin == cursor && tensor.begin <= tensor.end && tensor.end <= data_size);
    int64_t bytes = static_cast<int64_t>(c10::elementSize(tensor.dtype));
    for (const int64_t dim : tensor.shape) {
      require(dim >= 0);
      if (dim != 0)
        require(!__builtin_mul_overflow(bytes, dim, &bytes));
    }
    for (const int64_t dim : tensor.shape) {
      if (dim == 0)
        bytes = 0;
    }
    require(static_cast<uint64_t>(bytes) == tensor.end - tensor.begin);
    cursor = tensor.end;
  }
  require(cursor == data_size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto layout = xdit::io::parse_safetensors_layout(bytes, "fuzz.safetensors");
    require(layout.data_offset >= 8 && layout.data_offset <= size);
    check_promises(layout.header, size - layout.data_offset);
  } catch (const xdit::FileError&) {
  }
  try {
    check_promises(xdit::io::parse_safetensors_header(bytes, size, "fuzz.safetensors"), size);
  } catch (const xdit::FileError&) {
  }
  return 0;
}
