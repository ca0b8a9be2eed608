#include "io/png_image.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace xdit::io {
namespace {

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::path(::testing::TempDir()) / name;
}

TEST(PngImage, RoundTripsPixelsAndText) {
  const at::Tensor rgb = at::randint(0, 256, {5, 7, 3}, at::kByte);
  const auto path = temp_path("round_trip.png");
  write_png(path, rgb, {{"xdit", R"({"seed": 3, "prompt": "ü"})"}, {"Software", "xdit"}});
  const PngImage image = read_png(path);
  EXPECT_TRUE(image.rgb.equal(rgb));
  EXPECT_EQ(image.text.at("xdit"), R"({"seed": 3, "prompt": "ü"})");
  EXPECT_EQ(image.text.at("Software"), "xdit");
}

TEST(PngImage, RejectsWrongTensorAndBadFiles) {
  EXPECT_THROW(write_png(temp_path("bad.png"), at::zeros({4, 4}, at::kByte)), Error);
  EXPECT_THROW(write_png(temp_path("bad.png"), at::zeros({4, 4, 3}, at::kFloat)), Error);
  EXPECT_THROW(read_png(temp_path("missing.png")), FileError);
  const auto garbage = temp_path("garbage.png");
  std::ofstream(garbage) << "not a png at all";
  EXPECT_THROW(read_png(garbage), FileError);
  // A valid signature followed by a truncated stream.
  const auto truncated = temp_path("truncated.png");
  write_png(truncated, at::zeros({16, 16, 3}, at::kByte));
  std::filesystem::resize_file(truncated, 40);
  EXPECT_THROW(read_png(truncated), FileError);
}

TEST(PngImage, UnwritableDirectoryIsAFileError) {
  EXPECT_THROW(write_png("/nonexistent-dir/x.png", at::zeros({2, 2, 3}, at::kByte)), FileError);
}

}  // namespace
}  // namespace xdit::io
