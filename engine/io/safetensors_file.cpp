#include "io/safetensors_file.hpp"

#include <ATen/Functions.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace xdit::io {

// RAII over a private, copy-on-write mapping of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      throw FileError(path.string(), err == ENOENT
                                         ? std::string("does not exist")
                                         : std::string("cannot be opened: ") + std::strerror(err));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw FileError(path.string(), "is not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ > 0) {
      // Writable but private: a tensor written to gets its own copy of the
      // page. No swap is reserved for that, or a checkpoint larger than
      // RAM + swap could not be mapped at all.
      void* addr =
          ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
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
    if (data_ != nullptr)
      ::munmap(data_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : path_(path), mapping_(std::make_shared<MappedFile>(path)) {
  const std::string_view bytes(reinterpret_cast<const char*>(mapping_->data()), mapping_->size());
  SafetensorsLayout layout = parse_safetensors_layout(bytes, path.string());
  header_ = std::move(layout.header);
  data_offset_ = layout.data_offset;
  for (size_t i = 0; i < header_.tensors.size(); ++i)
    index_[header_.tensors[i].name] = i;
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
  if (info->begin == info->end)
    return at::empty(info->shape, options);
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
