#pragma once
// Typed, checked access to the JSON configs of a diffusers checkpoint
// (config.json, scheduler_config.json, model_index.json) and of reference
// vectors. Python's json writer emits Infinity, -Infinity and NaN, which
// strict JSON parsers reject; diffusers scheduler configs contain them.

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.hpp"

namespace xdit::io {

// Parses JSON that may hold Python's Infinity / -Infinity / NaN literals.
// `source` names the text in error messages (usually its path). Throws
// FileError for broken text and for nesting deeper than any config has.
nlohmann::json parse_json(std::string_view text, const std::string& source);
nlohmann::json read_json_file(const std::filesystem::path& path);

// JSON text as Python's json module writes it (indent 2, non-finite numbers as
// Infinity / -Infinity / NaN rather than nlohmann's null), so that a config we
// write reads back the same here and in diffusers.
std::string dump_json(const nlohmann::ordered_json& json);
// Writes dump_json(json) atomically.
void write_json_file(const std::filesystem::path& path, const nlohmann::ordered_json& json);

// ConfigError naming `key` of `source` unless `value` is positive: the
// sizes and counts every model config checks.
void require_positive(int64_t value, std::string_view key, const std::string& source);

class Config {
 public:
  Config(nlohmann::json json, std::string source);
  static Config from_file(const std::filesystem::path& path);

  const std::string& source() const { return source_; }
  const nlohmann::json& json() const { return json_; }

  // True when the key is present and not null.
  bool has(std::string_view key) const;

  // The value of a required key; a ConfigError names the source and key when
  // it is missing, null or of another type.
  template <typename T>
  T get(std::string_view key) const {
    return convert<T>(key, at(key));
  }

  // The value of an optional key: `fallback` when missing or null.
  template <typename T>
  T get_or(std::string_view key, T fallback) const {
    return has(key) ? convert<T>(key, json_.at(std::string(key))) : fallback;
  }

  template <typename T>
  std::optional<T> get_optional(std::string_view key) const {
    if (!has(key))
      return std::nullopt;
    return convert<T>(key, json_.at(std::string(key)));
  }

  // A sub-object as its own Config (its source says where it came from).
  Config child(std::string_view key) const;

  [[noreturn]] void fail(std::string_view key, const std::string& what) const;

 private:
  const nlohmann::json& at(std::string_view key) const;
  void check_type(std::string_view key, const nlohmann::json& value, bool ok,
                  const char* expected) const;

  template <typename T>
  T convert(std::string_view key, const nlohmann::json& value) const;

  nlohmann::json json_;
  std::string source_;
};

template <typename T>
T Config::convert(std::string_view key, const nlohmann::json& value) const {
  if constexpr (std::is_same_v<T, bool>) {
    check_type(key, value, value.is_boolean(), "a boolean");
  } else if constexpr (std::is_integral_v<T>) {
    check_type(key, value, value.is_number_integer(), "an integer");
  } else if constexpr (std::is_floating_point_v<T>) {
    check_type(key, value, value.is_number(), "a number");
  } else if constexpr (std::is_same_v<T, std::string>) {
    check_type(key, value, value.is_string(), "a string");
  } else if constexpr (std::is_same_v<T, std::vector<int64_t>> ||
                       std::is_same_v<T, std::vector<int>>) {
    bool ok = value.is_array();
    for (const auto& item : value)
      ok = ok && item.is_number_integer();
    check_type(key, value, ok, "a list of integers");
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    bool ok = value.is_array();
    for (const auto& item : value)
      ok = ok && item.is_number();
    check_type(key, value, ok, "a list of numbers");
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    bool ok = value.is_array();
    for (const auto& item : value)
      ok = ok && item.is_string();
    check_type(key, value, ok, "a list of strings");
  }
  return value.get<T>();
}

}  // namespace xdit::io
