#include "io/safetensors_header.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.hpp"

namespace xdit::io {
namespace {

struct DtypeEntry {
  std::string_view name;
  std::optional<at::ScalarType> type;  // nullopt: a format dtype the engine cannot compute in
};

constexpr DtypeEntry kDtypes[] = {
    {"F64", at::kDouble},      {"F32", at::kFloat},       {"F16", at::kHalf},
    {"BF16", at::kBFloat16},   {"I64", at::kLong},        {"I32", at::kInt},
    {"I16", at::kShort},       {"I8", at::kChar},         {"U8", at::kByte},
    {"BOOL", at::kBool},       {"F8_E4M3", std::nullopt}, {"F8_E5M2", std::nullopt},
    {"F8_E8M0", std::nullopt}, {"F6_E2M3", std::nullopt}, {"F6_E3M2", std::nullopt},
    {"F4", std::nullopt},      {"C64", std::nullopt},     {"U16", std::nullopt},
    {"U32", std::nullopt},     {"U64", std::nullopt},
};

// A real header nests three deep ({name: {"shape": [..]}}); the cap keeps the
// recursive parts of nlohmann (dump, copy) far from the end of the stack.
constexpr int kMaxJsonDepth = 32;

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

const DtypeEntry* find_dtype(std::string_view name) {
  for (const auto& entry : kDtypes) {
    if (entry.name == name)
      return &entry;
  }
  return nullptr;
}

std::string tensor_context(const std::string& name) {
  return "tensor '" + name + "': ";
}

bool is_non_negative_integer(const nlohmann::json& value) {
  return value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0);
}

uint64_t as_u64(const nlohmann::json& value, const std::string& source, const std::string& what) {
  if (!is_non_negative_integer(value)) {
    throw FileError(source, what + " is " + value.dump() + ", expected a non-negative integer");
  }
  return value.get<uint64_t>();
}

// nlohmann keeps the last of duplicate keys silently; a header naming one
// tensor (or one field of a tensor) twice is corrupt, so duplicates are caught
// while parsing, as is nesting no header has.
nlohmann::json parse_header_json(std::string_view header, const std::string& source) {
  std::vector<std::set<std::string>> open_objects;
  int depth = 0;
  std::string current_tensor;
  auto on_event = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        if (++depth > kMaxJsonDepth) {
          throw FileError(source, "header nests deeper than " + std::to_string(kMaxJsonDepth) +
                                      " levels: not a safetensors header");
        }
        if (event == Event::object_start)
          open_objects.emplace_back();
        break;
      case Event::object_end:
        open_objects.pop_back();
        --depth;
        break;
      case Event::array_end:
        --depth;
        break;
      case Event::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        const bool top_level = open_objects.size() == 1;
        if (top_level)
          current_tensor = key;
        if (!open_objects.back().insert(key).second) {
          throw FileError(source, top_level ? "header names tensor '" + key + "' twice"
                                            : tensor_context(current_tensor) + "field '" + key +
                                                  "' appears twice");
        }
        break;
      }
      case Event::value:
        break;
    }
    return true;
  };
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(header.begin(), header.end(), on_event);
  } catch (const nlohmann::json::exception& e) {
    throw FileError(source, std::string("header is not valid JSON: ") + e.what());
  }
  if (!json.is_object())
    throw FileError(source, "header is not a JSON object");
  return json;
}

// Reads the shape and returns the number of bytes it needs. Every dimension
// fits int64 and so does the product of the non-zero ones times the element
// size, so that no element count, stride or byte size overflows later.
uint64_t parse_shape(const nlohmann::json& shape, uint64_t element_size, TensorInfo& info,
                     const std::string& source) {
  const std::string context = tensor_context(info.name);
  if (!shape.is_array())
    throw FileError(source, context + "shape is not a list");
  uint64_t nonzero_product = 1;
  bool any_zero = false;
  const uint64_t limit = static_cast<uint64_t>(kMaxInt64) / element_size;
  for (const auto& dim : shape) {
    const uint64_t d = as_u64(dim, source, context + "shape " + shape.dump() + ": a dimension");
    if (d == 0) {
      any_zero = true;
    } else if (d > limit / nonzero_product) {
      throw FileError(source, context + "shape " + shape.dump() + " is too large (its size in " +
                                  "bytes overflows a 64-bit integer)");
    } else {
      nonzero_product *= d;
    }
    info.shape.push_back(static_cast<int64_t>(d));
  }
  return any_zero ? 0 : nonzero_product * element_size;
}

TensorInfo parse_tensor_entry(const std::string& name, const nlohmann::json& entry,
                              const std::string& source) {
  const std::string context = tensor_context(name);
  if (!entry.is_object())
    throw FileError(source, context + "entry is not an object");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(field))
      throw FileError(source, context + "has no '" + field + "'");
  }
  TensorInfo info;
  info.name = name;
  const auto& dtype = entry.at("dtype");
  if (!dtype.is_string())
    throw FileError(source, context + "dtype is not a string");
  info.dtype_name = dtype.get<std::string>();
  const DtypeEntry* known = find_dtype(info.dtype_name);
  if (known == nullptr)
    throw FileError(source, context + "unknown dtype '" + info.dtype_name + "'");
  if (!known->type) {
    throw FileError(source, context + "unsupported dtype '" + info.dtype_name +
                                "': the engine computes in F32, F16 or BF16; convert the "
                                "checkpoint to one of them");
  }
  info.dtype = *known->type;
  const uint64_t expected =
      parse_shape(entry.at("shape"), c10::elementSize(info.dtype), info, source);

  const auto& offsets = entry.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2) {
    throw FileError(source, context + "data_offsets is not a [begin, end] pair");
  }
  info.begin = as_u64(offsets[0], source, context + "data_offsets[0]");
  info.end = as_u64(offsets[1], source, context + "data_offsets[1]");
  if (info.end < info.begin) {
    throw FileError(source, context + "data_offsets " + offsets.dump() + " end before they begin");
  }
  if (info.end - info.begin != expected) {
    throw FileError(source, context + "shape " + entry.at("shape").dump() + " of " +
                                info.dtype_name + " needs " + std::to_string(expected) +
                                " bytes, data_offsets " + offsets.dump() + " hold " +
                                std::to_string(info.end - info.begin));
  }
  return info;
}

std::map<std::string, std::string> parse_metadata(const nlohmann::json& value,
                                                  const std::string& source) {
  // The Python writer omits absent metadata, the Rust reader accepts null.
  if (value.is_null())
    return {};
  if (!value.is_object())
    throw FileError(source, "__metadata__ is not an object");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      throw FileError(source, "__metadata__ '" + key + "' is " + item.dump() +
                                  ", but metadata values must be strings");
    }
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

// The data section must be covered exactly: tensors back to back, no byte
// shared and none left over, so that a truncated or spliced file is caught.
void check_layout(const std::vector<TensorInfo>& tensors, uint64_t data_size,
                  const std::string& source) {
  uint64_t cursor = 0;
  for (const auto& info : tensors) {
    if (info.end > data_size) {
      throw FileError(source, tensor_context(info.name) + "data ends at byte " +
                                  std::to_string(info.end) + " past the end of the data (" +
                                  std::to_string(data_size) + " bytes): file truncated?");
    }
    if (info.begin < cursor) {
      throw FileError(source, tensor_context(info.name) + "data overlaps the previous tensor");
    }
    if (info.begin > cursor) {
      throw FileError(source, tensor_context(info.name) + "a gap of " +
                                  std::to_string(info.begin - cursor) + " bytes precedes its data");
    }
    cursor = info.end;
  }
  if (cursor != data_size) {
    throw FileError(source, "tensors cover " + std::to_string(cursor) + " of the " +
                                std::to_string(data_size) + " data bytes");
  }
}

}  // namespace

SafetensorsHeader parse_safetensors_header(std::string_view header, uint64_t data_size,
                                           const std::string& source) {
  const nlohmann::json json = parse_header_json(header, source);
  SafetensorsHeader parsed;
  for (const auto& [name, entry] : json.items()) {
    if (name == "__metadata__") {
      parsed.metadata = parse_metadata(entry, source);
    } else {
      parsed.tensors.push_back(parse_tensor_entry(name, entry, source));
    }
  }
  std::stable_sort(parsed.tensors.begin(), parsed.tensors.end(),
                   [](const TensorInfo& a, const TensorInfo& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  check_layout(parsed.tensors, data_size, source);
  return parsed;
}

SafetensorsLayout parse_safetensors_layout(std::string_view file, const std::string& source) {
  if (file.size() < 8) {
    throw FileError(source,
                    "truncated: " + std::to_string(file.size()) +
                        " bytes, but a safetensors file starts with an 8-byte header length");
  }
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i)
    header_size = (header_size << 8) | static_cast<uint8_t>(file[i]);
  if (header_size > kMaxSafetensorsHeaderBytes) {
    throw FileError(source, "header length " + std::to_string(header_size) +
                                " exceeds the 100 MB limit: not a safetensors file?");
  }
  if (header_size > file.size() - 8) {
    throw FileError(source, "header length " + std::to_string(header_size) +
                                " runs past the end of the file (" + std::to_string(file.size()) +
                                " bytes): file truncated?");
  }
  SafetensorsLayout layout;
  layout.data_offset = 8 + header_size;
  layout.header = parse_safetensors_header(file.substr(8, header_size),
                                           file.size() - layout.data_offset, source);
  return layout;
}

std::optional<std::string_view> safetensors_dtype_name(at::ScalarType type) {
  for (const auto& entry : kDtypes) {
    if (entry.type == type)
      return entry.name;
  }
  return std::nullopt;
}

}  // namespace xdit::io
