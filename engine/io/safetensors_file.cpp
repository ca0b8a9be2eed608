#include "io/safetensors_file.hpp"

#include <ATen/Functions.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.hpp"

namespace xdit::io {

// RAII over a private, copy-on-write mapping of a whole file, and the file
// itself, open for the reads that must not go through the mapping.
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
    fd_ = fd;
  }
  ~MappedFile() {
    if (data_ != nullptr)
      ::munmap(data_, size_);
    ::close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
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

const TensorInfo& SafetensorsFile::info(std::string_view name) const {
  const TensorInfo* found = find(name);
  if (found == nullptr)
    throw FileError(path_.string(), "has no tensor '" + std::string(name) + "'");
  return *found;
}

void SafetensorsFile::read(uint64_t offset, uint64_t size, void* out) const {
  auto* dest = static_cast<uint8_t*>(out);
  uint64_t at = data_offset_ + offset;
  while (size > 0) {
    const ssize_t got = ::pread(mapping_->fd(), dest, size, static_cast<off_t>(at));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      throw FileError(path_.string(), std::string("cannot be read: ") + std::strerror(errno));
    // The header was checked against the file's size on open.
    if (got == 0)
      throw FileError(path_.string(), "was truncated while it was being read");
    dest += got;
    at += static_cast<uint64_t>(got);
    size -= static_cast<uint64_t>(got);
  }
}

at::Tensor SafetensorsFile::run(const std::vector<int64_t>& shape, at::ScalarType dtype,
                                uint64_t offset, uint64_t size) const {
  const auto options = at::TensorOptions().dtype(dtype);
  if (size == 0)
    return at::empty(shape, options);
  uint8_t* bytes = mapping_->data() + data_offset_ + offset;
  if (reinterpret_cast<uintptr_t>(bytes) % c10::elementSize(dtype) != 0) {
    // Misaligned data cannot back a typed view; read it into fresh storage.
    at::Tensor copy = at::empty(shape, options);
    read(offset, size, copy.data_ptr());
    return copy;
  }
  auto keep_alive = mapping_;
  return at::from_blob(
      bytes, shape, [keep_alive](void*) mutable { keep_alive.reset(); }, options);
}

at::Tensor SafetensorsFile::tensor(std::string_view name) const {
  const TensorInfo& whole = info(name);
  return run(whole.shape, whole.dtype, whole.begin, whole.end - whole.begin);
}

at::Tensor SafetensorsFile::slice(std::string_view name, int64_t dim, int64_t start,
                                  int64_t length) const {
  const TensorInfo& whole = info(name);
  std::vector<int64_t> shape = whole.shape;
  shape[dim] = length;
  // The tensor as `rows` rows, each of which holds one piece of the slice.
  uint64_t rows = 1;
  for (int64_t i = 0; i < dim; ++i)
    rows *= static_cast<uint64_t>(whole.shape[i]);
  uint64_t stride = c10::elementSize(whole.dtype);  // bytes per index of `dim`
  for (size_t i = static_cast<size_t>(dim) + 1; i < whole.shape.size(); ++i)
    stride *= static_cast<uint64_t>(whole.shape[i]);
  const uint64_t row_bytes = stride * static_cast<uint64_t>(whole.shape[dim]);
  const uint64_t piece_bytes = stride * static_cast<uint64_t>(length);
  const uint64_t first = whole.begin + stride * static_cast<uint64_t>(start);
  if (rows == 1 || piece_bytes == row_bytes)
    return run(shape, whole.dtype, first, rows * piece_bytes);

  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(whole.dtype));
  auto* dest = static_cast<uint8_t*>(out.data_ptr());
  // A few reads of many rows each rather than one per row, through a small
  // buffer; a row larger than the buffer has its piece read in place.
  constexpr uint64_t kBufferBytes = uint64_t{1} << 20;
  const uint64_t rows_per_read = kBufferBytes / row_bytes;
  if (rows_per_read <= 1) {
    for (uint64_t r = 0; r < rows; ++r)
      read(first + r * row_bytes, piece_bytes, dest + r * piece_bytes);
    return out;
  }
  std::vector<uint8_t> buffer(kBufferBytes);
  for (uint64_t r = 0; r < rows; r += rows_per_read) {
    const uint64_t count = std::min(rows_per_read, rows - r);
    read(first + r * row_bytes, (count - 1) * row_bytes + piece_bytes, buffer.data());
    for (uint64_t i = 0; i < count; ++i)
      std::memcpy(dest + (r + i) * piece_bytes, buffer.data() + i * row_bytes, piece_bytes);
  }
  return out;
}

}  // namespace xdit::io
