#pragma once
// Studio images on disk: PNG with the settings that made them in tEXt
// chunks, the same "xdit" record `xdit generate` writes (so the CLI's images
// open in the Studio too) plus the whole group spec under "xdit-group".
// Both functions touch the disk: call them off the GUI thread.

#include <QImage>
#include <filesystem>

#include "pipelines/generation.hpp"
#include "workers/group_spec.hpp"

namespace xdit::ui {

struct ImageSettings {
  workers::GroupSpec spec;
  pipelines::GenerationRequest request;
};

// FileError naming the file when it cannot be written (a full disk, ...).
void save_image(const std::filesystem::path& path, const QImage& image,
                const ImageSettings& settings);

// The settings recorded in a PNG. FileError when it is not a readable PNG,
// ConfigError naming the key when it carries no (or broken) xdit settings.
ImageSettings read_image_settings(const std::filesystem::path& path);

}  // namespace xdit::ui
