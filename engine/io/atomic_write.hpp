#pragma once
// Writing a file so that readers see either the old file or the complete new
// one: an interrupted write never leaves a truncated checkpoint or config.

#include <filesystem>
#include <string_view>
#include <vector>

namespace xdit::io {

// Writes `parts` one after another to a temporary file next to `path`, then
// renames it over `path`. Throws FileError naming the path on any failure.
void write_file_atomically(const std::filesystem::path& path,
                           const std::vector<std::string_view>& parts);

}  // namespace xdit::io
