#include "workers/private_directory.hpp"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace xdit::workers {

PrivateDirectory::PrivateDirectory(const std::string& prefix) {
  std::error_code error;
  std::filesystem::path base = std::filesystem::temp_directory_path(error);
  if (error)
    base = "/tmp";
  const std::string pattern = (base / (prefix + "XXXXXX")).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  // mkdtemp creates the directory with mode 0700 and a name no one else can
  // have chosen, atomically.
  if (::mkdtemp(name.data()) == nullptr) {
    throw FileError(pattern, std::string("cannot create a private temporary directory: ") +
                                 std::strerror(errno));
  }
  path_ = name.data();
}

PrivateDirectory::PrivateDirectory(PrivateDirectory&& other) noexcept
    : path_(std::exchange(other.path_, {})) {}

PrivateDirectory& PrivateDirectory::operator=(PrivateDirectory&& other) noexcept {
  if (this != &other) {
    reset();
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

void PrivateDirectory::reset() noexcept {
  if (path_.empty())
    return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
  path_.clear();
}

}  // namespace xdit::workers
