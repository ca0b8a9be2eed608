#include "io/png_image.hpp"

#include <ATen/ATen.h>
#include <png.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "core/error.hpp"

namespace xdit::io {
namespace {

struct FileCloser {
  void operator()(FILE* file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;

// libpng reports errors through longjmp by default; an error callback that
// throws instead keeps C++ destructors running. Every libpng call below is
// made from C++ frames only, so unwinding through them is safe.
[[noreturn]] void throw_png_error(png_structp png, png_const_charp message) {
  const auto* path = static_cast<const std::string*>(png_get_error_ptr(png));
  throw FileError(*path, std::string("PNG error: ") + message);
}

void ignore_png_warning(png_structp, png_const_charp) {}

}  // namespace

void write_png(const std::filesystem::path& path, const at::Tensor& rgb, const PngText& text) {
  const std::string name = path.string();
  if (rgb.dim() != 3 || rgb.size(2) != 3 || rgb.scalar_type() != at::kByte) {
    throw Error("write_png expects a uint8 [H, W, 3] tensor, got " + c10::str(rgb.sizes()));
  }
  const at::Tensor pixels = rgb.contiguous();
  const auto temporary = std::filesystem::path(name + ".partial");
  {
    FilePtr file(std::fopen(temporary.c_str(), "wb"));
    if (!file) throw FileError(temporary.string(), "cannot be created");
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, const_cast<std::string*>(&name),
                                throw_png_error, ignore_png_warning);
    png_infop info = png_create_info_struct(png);
    struct Cleanup {
      png_structp* png;
      png_infop* info;
      ~Cleanup() { png_destroy_write_struct(png, info); }
    } cleanup{&png, &info};
    png_init_io(png, file.get());
    const auto height = static_cast<png_uint_32>(pixels.size(0));
    const auto width = static_cast<png_uint_32>(pixels.size(1));
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    std::vector<png_text> chunks;
    for (const auto& [key, value] : text) {
      png_text chunk{};
      chunk.compression = PNG_TEXT_COMPRESSION_NONE;
      chunk.key = const_cast<char*>(key.c_str());
      chunk.text = const_cast<char*>(value.c_str());
      chunk.text_length = value.size();
      chunks.push_back(chunk);
    }
    if (!chunks.empty()) png_set_text(png, info, chunks.data(), static_cast<int>(chunks.size()));
    png_write_info(png, info);
    const auto* base = pixels.data_ptr<uint8_t>();
    for (png_uint_32 y = 0; y < height; ++y) {
      png_write_row(png, base + static_cast<size_t>(y) * width * 3);
    }
    png_write_end(png, nullptr);
    if (std::fflush(file.get()) != 0) {
      throw FileError(temporary.string(), "could not be written (disk full?)");
    }
  }
  std::filesystem::rename(temporary, path);
}

PngImage read_png(const std::filesystem::path& path) {
  const std::string name = path.string();
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) throw FileError(name, "cannot be opened");
  png_byte signature[8] = {};
  if (std::fread(signature, 1, 8, file.get()) != 8 || png_sig_cmp(signature, 0, 8) != 0) {
    throw FileError(name, "is not a PNG file");
  }
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, const_cast<std::string*>(&name),
                                           throw_png_error, ignore_png_warning);
  png_infop info = png_create_info_struct(png);
  struct Cleanup {
    png_structp* png;
    png_infop* info;
    ~Cleanup() { png_destroy_read_struct(png, info, nullptr); }
  } cleanup{&png, &info};
  png_init_io(png, file.get());
  png_set_sig_bytes(png, 8);
  // Normalise every colour type and depth to 8-bit RGB.
  png_read_info(png, info);
  png_set_expand(png);
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_gray_to_rgb(png);
  png_read_update_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  PngImage image;
  image.rgb = at::empty({static_cast<int64_t>(height), static_cast<int64_t>(width), 3}, at::kByte);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) {
    rows[y] = image.rgb.data_ptr<uint8_t>() + static_cast<size_t>(y) * width * 3;
  }
  png_read_image(png, rows.data());
  png_read_end(png, info);
  png_textp chunks = nullptr;
  const int count = png_get_text(png, info, &chunks, nullptr);
  for (int i = 0; i < count; ++i) {
    image.text[chunks[i].key] = std::string(chunks[i].text, chunks[i].text_length);
  }
  return image;
}

}  // namespace xdit::io
