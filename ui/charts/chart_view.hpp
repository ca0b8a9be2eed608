#pragma once
// A titled QCustomPlot that can be saved as PNG or PDF (right-click menu, or
// save()/saveWithDialog() from a button). Base of the Studio's charts.

#include <QColor>
#include <QString>

#include "ui/charts/qcustomplot.hpp"

namespace xdit::ui {

class ChartView : public QCustomPlot {
  Q_OBJECT

 public:
  explicit ChartView(const QString& title, QWidget* parent = nullptr);

  QString title() const { return title_; }
  // PNG or PDF, chosen by the suffix of `path` (".pdf": PDF, else PNG).
  // False when the file cannot be written.
  bool save(const QString& path);

  // Distinct, readable colours for ranks 0, 1, 2, ...
  static QColor rankColour(int rank);

 public Q_SLOTS:
  // Asks where to save (PNG or PDF, `suffix` first) and saves; a failure is
  // shown in a message box.
  void saveWithDialog(const QString& suffix = QStringLiteral("png"));

 private:
  void showMenu(const QPoint& position);

  QString title_;
};

}  // namespace xdit::ui
