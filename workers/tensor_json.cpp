#include "workers/tensor_json.hpp"

#include <ATen/ATen.h>

#include <array>
#include <cstring>

#include "workers/worker_error.hpp"

namespace xdit::workers {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct DtypeName {
  at::ScalarType type;
  const char* name;
};
constexpr std::array<DtypeName, 4> kDtypes = {{{at::kFloat, "float32"},
                                               {at::kBFloat16, "bfloat16"},
                                               {at::kLong, "int64"},
                                               {at::kByte, "uint8"}}};

const char* dtype_name(at::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (d.type == type)
      return d.name;
  }
  throw ProtocolError(std::string("a tensor of ") + c10::toString(type) +
                      " cannot be sent over the control channel");
}

at::ScalarType dtype_of(const std::string& name, const std::string& what) {
  for (const auto& d : kDtypes) {
    if (name == d.name)
      return d.type;
  }
  throw ProtocolError(what + ": unknown tensor dtype '" + name + "'");
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v =
        (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0})
      out += kAlphabet[(v >> shift) & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (rest == 2)
      v |= uint8_t(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    if (c == '=')
      break;
    const size_t value = kAlphabet.find(c);
    if (value == std::string_view::npos) {
      throw ProtocolError("invalid base64 character (code " + std::to_string(uint8_t(c)) + ")");
    }
    bits = (bits << 6) | static_cast<uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return out;
}

nlohmann::json tensor_to_json(const at::Tensor& tensor) {
  if (!tensor.defined())
    return nullptr;
  const at::Tensor data = tensor.cpu().contiguous();
  const auto* bytes = static_cast<const char*>(data.data_ptr());
  return {{"dtype", dtype_name(data.scalar_type())},
          {"shape", data.sizes().vec()},
          {"base64", base64_encode({bytes, data.nbytes()})}};
}

at::Tensor tensor_from_json(const nlohmann::json& json, const std::string& what) {
  if (json.is_null())
    return {};
  try {
    const at::ScalarType type = dtype_of(json.at("dtype").get<std::string>(), what);
    const auto shape = json.at("shape").get<std::vector<int64_t>>();
    const std::string bytes = base64_decode(json.at("base64").get<std::string>());
    at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(type));
    if (static_cast<size_t>(tensor.nbytes()) != bytes.size()) {
      throw ProtocolError(what + ": " + std::to_string(bytes.size()) +
                          " bytes do not fill a tensor of shape " + c10::str(tensor.sizes()));
    }
    std::memcpy(tensor.data_ptr(), bytes.data(), bytes.size());
    return tensor;
  } catch (const nlohmann::json::exception& e) {
    throw ProtocolError(what + " is not a tensor: " + e.what());
  }
}

}  // namespace xdit::workers
