#pragma once
// Tensors inside control messages: {"dtype": "float32", "shape": [..],
// "base64": ".."} holding the contiguous bytes in the machine's byte order.
// Launcher and workers run on the same machine, so no byte swapping; base64
// keeps a message one line of JSON.

#include <ATen/core/Tensor.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace xdit::workers {

// An undefined tensor becomes null.
nlohmann::json tensor_to_json(const at::Tensor& tensor);
// null gives an undefined tensor. Throws ProtocolError naming `what` when
// the JSON does not describe a tensor of float32, bfloat16, int64 or uint8.
at::Tensor tensor_from_json(const nlohmann::json& json, const std::string& what);

std::string base64_encode(std::string_view bytes);
// Throws ProtocolError on a character outside the base64 alphabet.
std::string base64_decode(std::string_view text);

}  // namespace xdit::workers
