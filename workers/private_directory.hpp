#pragma once
// A fresh directory that only this user can enter (mode 0700, from mkdtemp),
// removed with everything in it when the object is destroyed or reset. The
// launcher keeps its group's rendezvous file in one, so that no other user
// can read or plant keys, and nothing is left behind when the group ends.

#include <filesystem>
#include <string>

namespace xdit::workers {

class PrivateDirectory {
 public:
  PrivateDirectory() = default;
  // Creates <temp_directory_path()>/<prefix>XXXXXX. Throws FileError.
  explicit PrivateDirectory(const std::string& prefix);
  ~PrivateDirectory() { reset(); }
  PrivateDirectory(PrivateDirectory&& other) noexcept;
  PrivateDirectory& operator=(PrivateDirectory&& other) noexcept;
  PrivateDirectory(const PrivateDirectory&) = delete;
  PrivateDirectory& operator=(const PrivateDirectory&) = delete;

  // Empty once reset.
  const std::filesystem::path& path() const { return path_; }
  // Removes the directory and its contents (best effort: a failure leaves a
  // few bytes in the temporary directory, which is not worth an exception).
  void reset() noexcept;

 private:
  std::filesystem::path path_;
};

}  // namespace xdit::workers
