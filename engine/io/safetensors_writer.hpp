#pragma once
// Writes tensors in the safetensors format: used for the built-in model's
// checkpoint, for `--output_type latent` and by tests that build bad files.

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace xdit::io {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// The header JSON and data bytes as they would be written, for tests that
// corrupt one part and keep the rest valid.
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

}  // namespace xdit::io
