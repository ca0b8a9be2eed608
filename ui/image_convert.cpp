#include "ui/image_convert.hpp"

#include <ATen/ATen.h>

#include <cstring>

namespace xdit::ui {

QImage to_qimage(const at::Tensor& rgb) {
  const at::Tensor pixels = rgb.to(at::kByte).contiguous();
  const auto height = static_cast<int>(pixels.size(0));
  const auto width = static_cast<int>(pixels.size(1));
  const QImage view(pixels.data_ptr<uint8_t>(), width, height, 3 * width, QImage::Format_RGB888);
  return view.copy();
}

at::Tensor to_tensor(const QImage& image) {
  const QImage rgb = image.convertToFormat(QImage::Format_RGB888);
  at::Tensor pixels = at::empty({rgb.height(), rgb.width(), 3}, at::kByte);
  const auto row_bytes = static_cast<size_t>(3 * rgb.width());
  for (int y = 0; y < rgb.height(); ++y)
    std::memcpy(pixels[y].data_ptr<uint8_t>(), rgb.constScanLine(y), row_bytes);
  return pixels;
}

}  // namespace xdit::ui
