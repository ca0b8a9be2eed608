#pragma once
// One exception hierarchy for the whole engine. Every error carries enough
// context (file, tensor, key, setting, rank) that the message alone tells a
// user what to fix; process boundaries turn it into text, never an abort.

#include <stdexcept>
#include <string>

namespace xdit {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file that cannot be read or whose bytes are not what its format promises.
class FileError : public Error {
 public:
  FileError(const std::string& path, const std::string& what);
};

// A configuration (config.json, scheduler_config.json, metadata) with a missing
// or mistyped key, or a value outside what the model supports.
class ConfigError : public Error {
 public:
  ConfigError(const std::string& source, const std::string& key, const std::string& what);
};

// A checkpoint that does not fit the model built from its config.
class WeightError : public Error {
 public:
  using Error::Error;
};

// A request that cannot be served as asked (bad size, impossible degrees, ...).
class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace xdit
