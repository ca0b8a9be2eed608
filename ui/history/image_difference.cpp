#include "ui/history/image_difference.hpp"

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace xdit::ui {

ImageDifference difference_image(const QImage& a, const QImage& b, double max_gain) {
  ImageDifference out;
  if (a.isNull() || b.isNull())
    return out;
  const QImage x = a.convertToFormat(QImage::Format_RGB32);
  const QImage y =
      (b.size() == a.size() ? b
                            : b.scaled(a.size(), Qt::IgnoreAspectRatio, Qt::SmoothTransformation))
          .convertToFormat(QImage::Format_RGB32);
  const int w = x.width();
  const int h = x.height();
  // Levels first, then the gain, which depends on the largest of them.
  std::vector<int> levels(static_cast<size_t>(w) * h * 3);
  double sum = 0;
  for (int row = 0; row < h; ++row) {
    const auto* px = reinterpret_cast<const QRgb*>(x.constScanLine(row));
    const auto* py = reinterpret_cast<const QRgb*>(y.constScanLine(row));
    for (int col = 0; col < w; ++col) {
      int* d = &levels[(static_cast<size_t>(row) * w + col) * 3];
      d[0] = std::abs(qRed(px[col]) - qRed(py[col]));
      d[1] = std::abs(qGreen(px[col]) - qGreen(py[col]));
      d[2] = std::abs(qBlue(px[col]) - qBlue(py[col]));
      out.max_level = std::max({out.max_level, d[0], d[1], d[2]});
      sum += d[0] + d[1] + d[2];
    }
  }
  out.mean_level = levels.empty() ? 0.0 : sum / static_cast<double>(levels.size());
  out.gain = out.max_level > 0 ? std::clamp(255.0 / out.max_level, 1.0, max_gain) : 1.0;
  out.image = QImage(w, h, QImage::Format_RGB32);
  for (int row = 0; row < h; ++row) {
    auto* line = reinterpret_cast<QRgb*>(out.image.scanLine(row));
    for (int col = 0; col < w; ++col) {
      const int* d = &levels[(static_cast<size_t>(row) * w + col) * 3];
      const auto amplified = [&](int level) { return std::min(255, int(level * out.gain + 0.5)); };
      line[col] = qRgb(amplified(d[0]), amplified(d[1]), amplified(d[2]));
    }
  }
  return out;
}

}  // namespace xdit::ui
