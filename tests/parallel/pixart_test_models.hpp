#pragma once
// The PixArt folders the parallel tests run: the built-in tiny-pixart
// (PixArt-α layout, 4 heads, learned sigma) and a second one with another
// head count and PixArt-Σ settings (6 heads × 16, size conditions on, no
// learned sigma), so that no method can pass by fitting one shape. Both are
// written once per temporary directory; every rank process may ask at once.

#include <filesystem>

namespace xdit::parallel::testing {

const std::filesystem::path& tiny_pixart_folder();
const std::filesystem::path& six_head_pixart_folder();

}  // namespace xdit::parallel::testing
