#pragma once
// The centre of the window: the live preview while denoising, then the final
// image, scaled to fit with its aspect ratio kept (previews, one pixel per
// latent pixel, are scaled up smoothly), with a caption under it.

#include <QImage>
#include <QString>
#include <QWidget>

namespace xdit::ui {

class ImageView : public QWidget {
  Q_OBJECT

 public:
  explicit ImageView(QWidget* parent = nullptr);

  void showImage(const QImage& image, const QString& caption);
  void clear(const QString& caption);
  const QImage& image() const { return image_; }
  const QString& caption() const { return caption_; }

  QSize sizeHint() const override { return {512, 512}; }

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  QImage image_;
  QString caption_;
};

}  // namespace xdit::ui
