#include "io/safetensors_file.hpp"

#include <ATen/Functions.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.hpp"

namespace xdit::io {

// RAII over a private, copy-on-write mapping of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw FileError(path.string(), std::string("cannot be opened: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw FileError(path.string(), "is not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ > 0) {
      void* addr = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (addr == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw FileError(path.string(), std::string("cannot be mapped: ") + std::strerror(err));
      }
      data_ = static_cast<uint8_t*>(addr);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

namespace {

struct DtypeEntry {
  std::string_view name;
  std::optional<at::ScalarType> type;  // nullopt: known to the format, not to LibTorch 1.13
  uint64_t bytes;
};

constexpr DtypeEntry kDtypes[] = {
    {"F64", at::kDouble, 8},       {"F32", at::kFloat, 4},       {"F16", at::kHalf, 2},
    {"BF16", at::kBFloat16, 2},    {"I64", at::kLong, 8},        {"I32", at::kInt, 4},
    {"I16", at::kShort, 2},        {"I8", at::kChar, 1},         {"U8", at::kByte, 1},
    {"BOOL", at::kBool, 1},        {"F8_E4M3", std::nullopt, 1}, {"F8_E5M2", std::nullopt, 1},
    {"U16", std::nullopt, 2},      {"U32", std::nullopt, 4},     {"U64", std::nullopt, 8},
};

const DtypeEntry* find_dtype(std::string_view name) {
  for (const auto& entry : kDtypes) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

std::string tensor_context(const std::string& name) { return "tensor '" + name + "': "; }

uint64_t as_u64(const nlohmann::json& value, const std::string& source, const std::string& what) {
  if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0)) {
    throw FileError(source, what + " is " + value.dump() + ", expected a non-negative integer");
  }
  return value.get<uint64_t>();
}

// nlohmann keeps the last of duplicate keys silently; a checkpoint with two
// tensors of one name is corrupt, so duplicates are caught while parsing.
nlohmann::json parse_header_json(std::string_view header, const std::string& source) {
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && duplicate.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!seen.insert(key).second) duplicate = key;
    }
    return true;
  };
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(header.begin(), header.end(), on_event);
  } catch (const nlohmann::json::exception& e) {
    throw FileError(source, std::string("header is not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) throw FileError(source, "header names tensor '" + duplicate + "' twice");
  if (!json.is_object()) throw FileError(source, "header is not a JSON object");
  return json;
}

TensorInfo parse_tensor_entry(const std::string& name, const nlohmann::json& entry,
                              const std::string& source) {
  const std::string context = tensor_context(name);
  if (!entry.is_object()) throw FileError(source, context + "entry is not an object");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(field)) throw FileError(source, context + "has no '" + field + "'");
  }
  TensorInfo info;
  info.name = name;
  const auto& dtype = entry.at("dtype");
  if (!dtype.is_string()) throw FileError(source, context + "dtype is not a string");
  info.dtype_name = dtype.get<std::string>();
  const DtypeEntry* known = find_dtype(info.dtype_name);
  if (known == nullptr) throw FileError(source, context + "unknown dtype '" + info.dtype_name + "'");
  if (!known->type) {
    throw FileError(source, context + "unsupported dtype '" + info.dtype_name +
                                "' (LibTorch 1.13 has no such scalar type)");
  }
  info.dtype = *known->type;

  const auto& shape = entry.at("shape");
  if (!shape.is_array()) throw FileError(source, context + "shape is not a list");
  uint64_t elements = 1;
  bool overflow = false;
  for (const auto& dim : shape) {
    const uint64_t d = as_u64(dim, source, context + "a shape dimension");
    if (d > static_cast<uint64_t>(INT64_MAX)) overflow = true;
    if (d != 0 && elements > UINT64_MAX / d) overflow = true;
    elements *= d;
    info.shape.push_back(static_cast<int64_t>(d));
  }
  if (overflow || elements > UINT64_MAX / known->bytes) {
    throw FileError(source, context + "shape " + shape.dump() + " is too large");
  }

  const auto& offsets = entry.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2) {
    throw FileError(source, context + "data_offsets is not a [begin, end] pair");
  }
  info.begin = as_u64(offsets[0], source, context + "data_offsets[0]");
  info.end = as_u64(offsets[1], source, context + "data_offsets[1]");
  if (info.end < info.begin) {
    throw FileError(source, context + "data_offsets " + offsets.dump() + " end before they begin");
  }
  const uint64_t expected = elements * known->bytes;
  if (info.end - info.begin != expected) {
    throw FileError(source, context + "shape " + shape.dump() + " of " + info.dtype_name +
                                " needs " + std::to_string(expected) + " bytes, data_offsets " +
                                offsets.dump() + " hold " + std::to_string(info.end - info.begin));
  }
  return info;
}

std::map<std::string, std::string> parse_metadata(const nlohmann::json& value,
                                                  const std::string& source) {
  if (!value.is_object()) throw FileError(source, "__metadata__ is not an object");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) throw FileError(source, "__metadata__ '" + key + "' is not a string");
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

// The data section must be covered exactly: tensors back to back, no byte
// shared and none left over, so that a truncated or spliced file is caught.
void check_layout(const std::vector<TensorInfo>& tensors, uint64_t data_size,
                  const std::string& source) {
  uint64_t cursor = 0;
  for (const auto& info : tensors) {
    if (info.end > data_size) {
      throw FileError(source, tensor_context(info.name) + "data ends at byte " +
                                  std::to_string(info.end) + " past the end of the data (" +
                                  std::to_string(data_size) + " bytes): file truncated?");
    }
    if (info.begin < cursor) {
      throw FileError(source, tensor_context(info.name) + "data overlaps the previous tensor");
    }
    if (info.begin > cursor) {
      throw FileError(source, tensor_context(info.name) + "a gap of " +
                                  std::to_string(info.begin - cursor) + " bytes precedes its data");
    }
    cursor = info.end;
  }
  if (cursor != data_size) {
    throw FileError(source, "tensors cover " + std::to_string(cursor) + " of the " +
                                std::to_string(data_size) + " data bytes");
  }
}

}  // namespace

SafetensorsHeader parse_safetensors_header(std::string_view header, uint64_t data_size,
                                           const std::string& source) {
  const nlohmann::json json = parse_header_json(header, source);
  SafetensorsHeader parsed;
  for (const auto& [name, entry] : json.items()) {
    if (name == "__metadata__") {
      parsed.metadata = parse_metadata(entry, source);
    } else {
      parsed.tensors.push_back(parse_tensor_entry(name, entry, source));
    }
  }
  std::stable_sort(parsed.tensors.begin(), parsed.tensors.end(),
                   [](const TensorInfo& a, const TensorInfo& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  check_layout(parsed.tensors, data_size, source);
  return parsed;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : path_(path), mapping_(std::make_shared<MappedFile>(path)) {
  const std::string source = path.string();
  const uint64_t size = mapping_->size();
  if (size < 8) {
    throw FileError(source, "truncated: " + std::to_string(size) +
                                " bytes, but a safetensors file starts with an 8-byte header length");
  }
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | mapping_->data()[i];
  if (header_size > kMaxHeaderBytes) {
    throw FileError(source, "header length " + std::to_string(header_size) +
                                " exceeds the 100 MB limit: not a safetensors file?");
  }
  if (header_size > size - 8) {
    throw FileError(source, "header length " + std::to_string(header_size) +
                                " runs past the end of the file (" + std::to_string(size) +
                                " bytes): file truncated?");
  }
  data_offset_ = 8 + header_size;
  const std::string_view header(reinterpret_cast<const char*>(mapping_->data() + 8), header_size);
  header_ = parse_safetensors_header(header, size - data_offset_, source);
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

at::Tensor SafetensorsFile::tensor(std::string_view name) const {
  const TensorInfo* info = find(name);
  if (info == nullptr) {
    throw FileError(path_.string(), "has no tensor '" + std::string(name) + "'");
  }
  uint8_t* bytes = mapping_->data() + data_offset_ + info->begin;
  const auto options = at::TensorOptions().dtype(info->dtype);
  const auto element_size = static_cast<uintptr_t>(c10::elementSize(info->dtype));
  if (info->begin == info->end) return at::empty(info->shape, options);
  if (reinterpret_cast<uintptr_t>(bytes) % element_size != 0) {
    // Misaligned data cannot back a typed view; copy it into fresh storage.
    at::Tensor copy = at::empty(info->shape, options);
    std::memcpy(copy.data_ptr(), bytes, info->end - info->begin);
    return copy;
  }
  auto keep_alive = mapping_;
  return at::from_blob(
      bytes, info->shape, [keep_alive](void*) mutable { keep_alive.reset(); }, options);
}

}  // namespace xdit::io
