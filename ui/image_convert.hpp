#pragma once
// Images between the engine (uint8 [H, W, 3] tensors) and Qt (QImage).

#include <ATen/core/Tensor.h>

#include <QImage>

namespace xdit::ui {

// `rgb`: uint8 [H, W, 3]. The QImage owns a copy.
QImage to_qimage(const at::Tensor& rgb);
// uint8 [H, W, 3] of any QImage (converted to RGB888).
at::Tensor to_tensor(const QImage& image);

}  // namespace xdit::ui
