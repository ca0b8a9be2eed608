#include "ui/image_view.hpp"

#include <QPainter>

namespace xdit::ui {

ImageView::ImageView(QWidget* parent) : QWidget(parent) {
  setObjectName("imageView");
  setMinimumSize(256, 256);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
  setAutoFillBackground(true);
}

void ImageView::showImage(const QImage& image, const QString& caption) {
  image_ = image;
  caption_ = caption;
  update();
}

void ImageView::clear(const QString& caption) {
  showImage({}, caption);
}

void ImageView::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  painter.fillRect(rect(), palette().window().color().darker(115));
  const int caption_height = fontMetrics().height() + 8;
  const QRect area = rect().adjusted(8, 8, -8, -8 - caption_height);
  if (!image_.isNull() && area.isValid()) {
    const QSize size = image_.size().scaled(area.size(), Qt::KeepAspectRatio);
    const QRect target(area.x() + (area.width() - size.width()) / 2,
                       area.y() + (area.height() - size.height()) / 2, size.width(), size.height());
    painter.setRenderHint(QPainter::SmoothPixmapTransform);
    painter.drawImage(target, image_);
  }
  painter.setPen(palette().windowText().color());
  painter.drawText(QRect(0, height() - caption_height, width(), caption_height), Qt::AlignCenter,
                   caption_);
}

}  // namespace xdit::ui
