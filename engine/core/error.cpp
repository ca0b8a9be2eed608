#include "core/error.hpp"

namespace xdit {

FileError::FileError(const std::string& path, const std::string& what)
    : Error(path + ": " + what) {}

ConfigError::ConfigError(const std::string& source, const std::string& key,
                         const std::string& what)
    : Error(source + ": '" + key + "' " + what) {}

}  // namespace xdit
