#pragma once
// Reads a scheduler_config.json the way diffusers' `from_config` does, so that
// loading one scheduler's config into another class (a user picking Euler for
// PixArt) behaves like diffusers: each class reads only its own keys, and keys
// the file lists under `_use_default_values` take this class's default.

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/config.hpp"

namespace xdit::schedulers {

class SchedulerConfig {
 public:
  explicit SchedulerConfig(io::Config config);

  const std::string& source() const { return config_.source(); }

  template <typename T>
  T get_or(std::string_view key, T fallback) const {
    return uses_default(key) ? fallback : config_.get_or<T>(key, std::move(fallback));
  }

  template <typename T>
  std::optional<T> get_optional(std::string_view key) const {
    return uses_default(key) ? std::nullopt : config_.get_optional<T>(key);
  }

  // A string setting that must be one of `allowed`.
  std::string get_choice(std::string_view key, const std::string& fallback,
                         std::initializer_list<std::string_view> allowed) const;

  // A boolean setting whose `true` this engine does not implement.
  void require_false(std::string_view key, const std::string& why) const;

  [[noreturn]] void fail(std::string_view key, const std::string& what) const;

 private:
  bool uses_default(std::string_view key) const;

  io::Config config_;
  std::vector<std::string> defaulted_keys_;
};

}  // namespace xdit::schedulers
