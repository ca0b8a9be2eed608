#include "io/safetensors_writer.hpp"

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>
#include <set>

#include "core/error.hpp"
#include "io/atomic_write.hpp"
#include "io/config.hpp"
#include "io/safetensors_header.hpp"

namespace xdit::io {
namespace {

std::string five_digits(size_t number) {
  const std::string digits = std::to_string(number);
  return std::string(digits.size() < 5 ? 5 - digits.size() : 0, '0') + digits;
}

}  // namespace

SafetensorsBytes encode_safetensors(const NamedTensors& tensors,
                                    const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty())
    header["__metadata__"] = metadata;
  SafetensorsBytes out;
  std::set<std::string> names;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || !names.insert(name).second) {
      throw UsageError("safetensors: cannot write tensor '" + name +
                       "': the name is reserved or used twice");
    }
    const auto dtype = safetensors_dtype_name(tensor.scalar_type());
    if (!dtype) {
      throw UsageError("safetensors: cannot write tensor '" + name + "' of dtype " +
                       std::string(c10::toString(tensor.scalar_type())));
    }
    const at::Tensor dense = tensor.to(at::kCPU).contiguous();
    const auto begin = out.data.size();
    out.data.append(static_cast<const char*>(dense.data_ptr()), dense.nbytes());
    header[name] = {{"dtype", *dtype},
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
  const uint64_t length = bytes.header.size();
  char prefix[8];
  for (int i = 0; i < 8; ++i)
    prefix[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  write_file_atomically(path, {std::string_view(prefix, 8), bytes.header, bytes.data});
}

std::vector<std::filesystem::path> write_sharded_safetensors(
    const std::filesystem::path& index, const std::string& shard_stem, const NamedTensors& tensors,
    uint64_t max_shard_bytes, const std::map<std::string, std::string>& metadata) {
  std::vector<NamedTensors> shards;
  uint64_t shard_bytes = 0;
  uint64_t total_bytes = 0;
  for (const auto& named : tensors) {
    const uint64_t bytes = named.second.nbytes();
    if (shards.empty() || (shard_bytes > 0 && shard_bytes + bytes > max_shard_bytes)) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(named);
    shard_bytes += bytes;
    total_bytes += bytes;
  }
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  std::vector<std::filesystem::path> paths;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string file_name = shard_stem + "-" + five_digits(i + 1) + "-of-" +
                                  five_digits(shards.size()) + ".safetensors";
    paths.push_back(index.parent_path() / file_name);
    write_safetensors(paths.back(), shards[i], metadata);
    for (const auto& [name, tensor] : shards[i])
      weight_map[name] = file_name;
  }
  nlohmann::ordered_json json = {{"metadata", {{"total_size", total_bytes}}},
                                 {"weight_map", weight_map}};
  write_json_file(index, json);
  return paths;
}

}  // namespace xdit::io
