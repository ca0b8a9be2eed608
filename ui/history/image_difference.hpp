#pragma once
// How two images of a comparison differ: per pixel and channel |a - b|,
// amplified so that small differences (another seed step, another parallel
// method's rounding) become visible.

#include <QImage>

namespace xdit::ui {

struct ImageDifference {
  QImage image;       // RGB32, a's size; black where equal
  int max_level = 0;  // largest |a - b| of any channel, 0..255
  double mean_level = 0;
  double gain = 1;  // what the levels in `image` were multiplied by
};

// `b` is scaled to `a`'s size when they differ. The gain maps the largest
// difference to full brightness, at most `max_gain` (so rounding noise stays
// dark). Two null images give a null image.
ImageDifference difference_image(const QImage& a, const QImage& b, double max_gain = 32);

}  // namespace xdit::ui
