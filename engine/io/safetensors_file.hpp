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

 private:
  std::filesystem::path path_;
  std::shared_ptr<MappedFile> mapping_;
  SafetensorsHeader header_;
  uint64_t data_offset_ = 0;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace xdit::io
