#pragma once
// A memory-mapped safetensors file. The header is validated completely on
// open (io/safetensors_header.hpp), so that every later access is in bounds;
// tensors are handed out as views of the mapping when their bytes are aligned,
// and the mapping lives as long as any of them.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/safetensors_header.hpp"

namespace xdit::io {

class MappedFile;

class SafetensorsFile {
 public:
  static constexpr uint64_t kMaxHeaderBytes = kMaxSafetensorsHeaderBytes;

  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }

  const TensorInfo* find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }

  // The tensor as stored. Shares memory with the mapping when its bytes are
  // aligned for the dtype. The mapping is private and copy-on-write: writes
  // never reach the file, but they are seen by every tensor this object hands
  // out for the same bytes, so a model must not modify what it loaded in place.
  at::Tensor tensor(std::string_view name) const;
  // The slice [start, start + length) of dimension `dim`, contiguous. When the
  // slice is one run of the file's bytes (a slice of the first dimension) it
  // is handed out as tensor() hands out the whole. Otherwise it takes a piece
  // of every row, and copying those out of the mapping would fault in, and
  // leave resident in this process, every page of the whole tensor: so such a
  // slice is read from the file into fresh memory instead, and costs the
  // process only its own size (the file stays in the shared page cache).
  // The caller checks the range.
  at::Tensor slice(std::string_view name, int64_t dim, int64_t start, int64_t length) const;

 private:
  const TensorInfo& info(std::string_view name) const;
  // `size` bytes at `offset` of the data section as a tensor of `shape`.
  at::Tensor run(const std::vector<int64_t>& shape, at::ScalarType dtype, uint64_t offset,
                 uint64_t size) const;
  void read(uint64_t offset, uint64_t size, void* out) const;

  std::filesystem::path path_;
  std::shared_ptr<MappedFile> mapping_;
  SafetensorsHeader header_;
  uint64_t data_offset_ = 0;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace xdit::io
