#pragma once
// The model folders the parallel tests run: the built-in tiny-pixart
// (PixArt-α layout, 4 heads, learned sigma) and a second PixArt with another
// head count and PixArt-Σ settings (6 heads × 16, size conditions on, no
// learned sigma), so that no method can pass by fitting one shape; and the
// built-in MMDiTs, tiny-sd3 and tiny-flux. All are written once per
// temporary directory; every rank process may ask at once.

#include <filesystem>

namespace xdit::parallel::testing {

const std::filesystem::path& tiny_pixart_folder();
const std::filesystem::path& six_head_pixart_folder();
const std::filesystem::path& tiny_sd3_folder();
const std::filesystem::path& tiny_flux_folder();

}  // namespace xdit::parallel::testing
