#pragma once
// A memory-mapped safetensors file (https://github.com/huggingface/safetensors
// format: u64 little-endian header length, JSON header, raw tensor bytes).
// The header is validated completely on open, so that every later access is
// in bounds; tensors are handed out as views of the mapping when the dtype
// allows, and the mapping lives as long as any of them.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace xdit::io {

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

// Parses and validates a header against the size of the data section that
// follows it. Throws FileError naming `source` (and the tensor) on any fault.
// Exposed on its own for the fuzz target.
SafetensorsHeader parse_safetensors_header(std::string_view header, uint64_t data_size,
                                           const std::string& source);

class MappedFile;

class SafetensorsFile {
 public:
  static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }

  const TensorInfo* find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }

  // The tensor as stored. Shares memory with the mapping (copy-on-write, so
  // writes never reach the file) when its bytes are aligned for the dtype.
  at::Tensor tensor(std::string_view name) const;

 private:
  std::filesystem::path path_;
  std::shared_ptr<MappedFile> mapping_;
  SafetensorsHeader header_;
  uint64_t data_offset_ = 0;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace xdit::io
