#include "io/atomic_write.hpp"

#include <unistd.h>

#include <fstream>
#include <system_error>

#include "core/error.hpp"

namespace xdit::io {

void write_file_atomically(const std::filesystem::path& path,
                           const std::vector<std::string_view>& parts) {
  // The process id keeps two processes that write one path from sharing a
  // temporary file.
  const auto temporary =
      std::filesystem::path(path.string() + ".partial-" + std::to_string(::getpid()));
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out)
      throw FileError(path.string(), "cannot be created (does its folder exist?)");
    for (const auto part : parts)
      out.write(part.data(), static_cast<std::streamsize>(part.size()));
    if (!out.flush()) {
      out.close();
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      throw FileError(path.string(), "could not be written (disk full?)");
    }
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    const std::string reason = error.message();
    std::filesystem::remove(temporary, error);
    throw FileError(path.string(), "could not be replaced: " + reason);
  }
}

}  // namespace xdit::io
