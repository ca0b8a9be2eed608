#pragma once
// Writes tensors in the safetensors format: used for the built-in model's
// checkpoint, for `--output_type latent` and by tests that build bad files.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace xdit::io {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// The header JSON and data bytes as they would be written, for tests that
// corrupt one part and keep the rest valid. Throws UsageError for a dtype the
// format cannot hold, a repeated name or the reserved name "__metadata__".
struct SafetensorsBytes {
  std::string header;
  std::string data;
};
SafetensorsBytes encode_safetensors(const NamedTensors& tensors,
                                    const std::map<std::string, std::string>& metadata = {});

// Writes atomically (temporary file, then rename) so that an interrupted
// write never leaves a truncated checkpoint behind.
void write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// A sharded checkpoint as diffusers and transformers write it: the tensors in
// order, split into shards of at most `max_shard_bytes` (a larger tensor gets
// a shard of its own) named `<shard_stem>-00001-of-00003.safetensors` in the
// folder of `index`, then the index itself ({"metadata": {"total_size"},
// "weight_map": {key: shard file}}), each shard with `metadata`. Returns
// the shard paths.
std::vector<std::filesystem::path> write_sharded_safetensors(
    const std::filesystem::path& index, const std::string& shard_stem, const NamedTensors& tensors,
    uint64_t max_shard_bytes, const std::map<std::string, std::string>& metadata = {});

}  // namespace xdit::io
