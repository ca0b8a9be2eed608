#include "io/config.hpp"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace xdit::io {
namespace {

// Markers that stand in for Python's non-finite literals while nlohmann parses
// the text; they cannot clash with real content because they are only written
// outside string literals, where a JSON string could not appear unquoted.
constexpr std::string_view kPosInf = "\"\\u0000xdit:+inf\"";
constexpr std::string_view kNegInf = "\"\\u0000xdit:-inf\"";
constexpr std::string_view kNaN = "\"\\u0000xdit:nan\"";

std::string replace_python_literals(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
    } else if (text.substr(i, 9) == "-Infinity") {
      out += kNegInf;
      i += 8;
    } else if (text.substr(i, 8) == "Infinity") {
      out += kPosInf;
      i += 7;
    } else if (text.substr(i, 3) == "NaN") {
      out += kNaN;
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

void restore_non_finite(nlohmann::json& node) {
  if (node.is_string()) {
    const auto& s = node.get_ref<const std::string&>();
    if (s.size() > 1 && s[0] == '\0' && s.compare(1, 5, "xdit:") == 0) {
      const std::string tag = s.substr(6);
      if (tag == "+inf") node = std::numeric_limits<double>::infinity();
      if (tag == "-inf") node = -std::numeric_limits<double>::infinity();
      if (tag == "nan") node = std::numeric_limits<double>::quiet_NaN();
    }
  } else if (node.is_structured()) {
    for (auto& child : node) restore_non_finite(child);
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& source) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(replace_python_literals(text));
  } catch (const nlohmann::json::parse_error& e) {
    throw FileError(source, std::string("not valid JSON: ") + e.what());
  }
  restore_non_finite(json);
  return json;
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path.string(), "cannot be opened");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_json(text.str(), path.string());
}

Config::Config(nlohmann::json json, std::string source)
    : json_(std::move(json)), source_(std::move(source)) {
  if (!json_.is_object()) throw FileError(source_, "is not a JSON object");
}

Config Config::from_file(const std::filesystem::path& path) {
  return Config(read_json_file(path), path.string());
}

bool Config::has(std::string_view key) const {
  const auto it = json_.find(std::string(key));
  return it != json_.end() && !it->is_null();
}

const nlohmann::json& Config::at(std::string_view key) const {
  if (!has(key)) fail(key, "is missing");
  return json_.at(std::string(key));
}

Config Config::child(std::string_view key) const {
  const auto& value = at(key);
  check_type(key, value, value.is_object(), "an object");
  return Config(value, source_ + ":" + std::string(key));
}

void Config::fail(std::string_view key, const std::string& what) const {
  throw ConfigError(source_, std::string(key), what);
}

void Config::check_type(std::string_view key, const nlohmann::json& value, bool ok,
                        const char* expected) const {
  if (!ok) fail(key, std::string("is ") + value.dump() + ", expected " + expected);
}

}  // namespace xdit::io
