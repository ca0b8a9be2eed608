#pragma once
// PNG files with the generation settings in tEXt chunks, so that an image
// carries what made it (and the Studio can restore the settings from it).

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>

namespace xdit::io {

using PngText = std::map<std::string, std::string>;

// `rgb`: uint8 [H, W, 3]. Written atomically (temporary file, then rename).
void write_png(const std::filesystem::path& path, const at::Tensor& rgb, const PngText& text = {});

struct PngImage {
  at::Tensor rgb;  // uint8 [H, W, 3]
  PngText text;
};
PngImage read_png(const std::filesystem::path& path);

}  // namespace xdit::io
