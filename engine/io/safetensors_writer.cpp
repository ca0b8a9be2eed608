#include "io/safetensors_writer.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace xdit::io {
namespace {

std::string dtype_name(at::ScalarType type) {
  switch (type) {
    case at::kDouble: return "F64";
    case at::kFloat: return "F32";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    case at::kShort: return "I16";
    case at::kChar: return "I8";
    case at::kByte: return "U8";
    case at::kBool: return "BOOL";
    default: throw Error(std::string("safetensors cannot store dtype ") + c10::toString(type));
  }
}

}  // namespace

SafetensorsBytes encode_safetensors(const NamedTensors& tensors,
                                    const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  SafetensorsBytes out;
  for (const auto& [name, tensor] : tensors) {
    const at::Tensor dense = tensor.contiguous();
    const auto begin = out.data.size();
    out.data.append(static_cast<const char*>(dense.data_ptr()), dense.nbytes());
    header[name] = {{"dtype", dtype_name(dense.scalar_type())},
                    {"shape", dense.sizes().vec()},
                    {"data_offsets", {begin, out.data.size()}}};
  }
  out.header = header.dump();
  // Pad the header with spaces so that the data section starts 8-byte aligned
  // and every tensor can be mapped without a copy.
  out.header.append((8 - (out.header.size() + 8) % 8) % 8, ' ');
  return out;
}

void write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const SafetensorsBytes bytes = encode_safetensors(tensors, metadata);
  const auto temporary = std::filesystem::path(path.string() + ".partial");
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw FileError(temporary.string(), "cannot be created");
    uint64_t length = bytes.header.size();
    char prefix[8];
    for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((length >> (8 * i)) & 0xff);
    out.write(prefix, 8);
    out.write(bytes.header.data(), static_cast<std::streamsize>(bytes.header.size()));
    out.write(bytes.data.data(), static_cast<std::streamsize>(bytes.data.size()));
    if (!out.flush()) throw FileError(temporary.string(), "could not be written (disk full?)");
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace xdit::io
