#include "io/config.hpp"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "io/atomic_write.hpp"

namespace xdit::io {
namespace {

// Markers that stand in for Python's non-finite literals while nlohmann parses
// the text; they cannot clash with real content because they are only written
// outside string literals, where a JSON string could not appear unquoted.
constexpr std::string_view kPosInf = "\"\\u0000xdit:+inf\"";
constexpr std::string_view kNegInf = "\"\\u0000xdit:-inf\"";
constexpr std::string_view kNaN = "\"\\u0000xdit:nan\"";

// Configs nest a few levels; the cap keeps the recursive walks (here and in
// nlohmann's dump and copy) far from the end of the stack on hostile input.
constexpr int kMaxJsonDepth = 128;

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
      if (tag == "+inf")
        node = std::numeric_limits<double>::infinity();
      if (tag == "-inf")
        node = -std::numeric_limits<double>::infinity();
      if (tag == "nan")
        node = std::numeric_limits<double>::quiet_NaN();
    }
  } else if (node.is_structured()) {
    for (auto& child : node)
      restore_non_finite(child);
  }
}

// The inverse of restore_non_finite, for writing.
void mark_non_finite(nlohmann::ordered_json& node) {
  if (node.is_number_float()) {
    const double value = node.get<double>();
    const std::string tag = std::isnan(value) ? "nan" : value > 0 ? "+inf" : "-inf";
    if (!std::isfinite(value))
      node = std::string(1, '\0') + "xdit:" + tag;
  } else if (node.is_structured()) {
    for (auto& child : node)
      mark_non_finite(child);
  }
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& source) {
  auto limit_depth = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > kMaxJsonDepth) {
      throw FileError(source, "nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    return true;
  };
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(replace_python_literals(text), limit_depth);
  } catch (const nlohmann::json::exception& e) {
    throw FileError(source, std::string("not valid JSON: ") + e.what());
  }
  restore_non_finite(json);
  return json;
}

std::string dump_json(const nlohmann::ordered_json& json) {
  nlohmann::ordered_json marked = json;
  mark_non_finite(marked);
  // The markers hold a NUL, which dump writes as the escape \u0000: the
  // quoted marker text is exactly what parse_json's markers look like.
  std::string text = marked.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  replace_all(text, kPosInf, "Infinity");
  replace_all(text, kNegInf, "-Infinity");
  replace_all(text, kNaN, "NaN");
  return text + "\n";
}

void write_json_file(const std::filesystem::path& path, const nlohmann::ordered_json& json) {
  write_file_atomically(path, {dump_json(json)});
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw FileError(path.string(),
                    std::filesystem::exists(path) ? "cannot be opened" : "does not exist");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_json(text.str(), path.string());
}

Config::Config(nlohmann::json json, std::string source)
    : json_(std::move(json)), source_(std::move(source)) {
  if (!json_.is_object())
    throw FileError(source_, "is not a JSON object");
}

Config Config::from_file(const std::filesystem::path& path) {
  return Config(read_json_file(path), path.string());
}

bool Config::has(std::string_view key) const {
  const auto it = json_.find(std::string(key));
  return it != json_.end() && !it->is_null();
}

const nlohmann::json& Config::at(std::string_view key) const {
  if (!has(key))
    fail(key, "is missing");
  return json_.at(std::string(key));
}

Config Config::child(std::string_view key) const {
  const auto& value = at(key);
  check_type(key, value, value.is_object(), "an object");
  return Config(value, source_ + ":" + std::string(key));
}

void require_positive(int64_t value, std::string_view key, const std::string& source) {
  if (value <= 0)
    throw ConfigError(source, std::string(key), "must be positive, got " + std::to_string(value));
}

void Config::fail(std::string_view key, const std::string& what) const {
  throw ConfigError(source_, std::string(key), what);
}

void Config::check_type(std::string_view key, const nlohmann::json& value, bool ok,
                        const char* expected) const {
  if (!ok)
    fail(key, std::string("is ") + value.dump() + ", expected " + expected);
}

}  // namespace xdit::io
