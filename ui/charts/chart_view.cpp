#include "ui/charts/chart_view.hpp"

#include <QFileDialog>
#include <QMenu>
#include <QMessageBox>
#include <QStandardPaths>
#include <algorithm>

namespace xdit::ui {
namespace {

// A chart never shown (offscreen, or in a hidden tab) has no useful size:
// files get at least this much.
constexpr int kMinExportWidth = 900;
constexpr int kMinExportHeight = 500;

}  // namespace

ChartView::ChartView(const QString& title, QWidget* parent) : QCustomPlot(parent), title_(title) {
  plotLayout()->insertRow(0);
  auto* heading =
      new QCPTextElement(this, title, QFont(font().family(), font().pointSize() + 1, QFont::Bold));
  plotLayout()->addElement(0, 0, heading);
  legend->setVisible(true);
  legend->setFont(QFont(font().family(), std::max(7, font().pointSize() - 1)));
  setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  setMinimumSize(320, 200);
  setContextMenuPolicy(Qt::CustomContextMenu);
  connect(this, &QWidget::customContextMenuRequested, this, &ChartView::showMenu);
}

QColor ChartView::rankColour(int rank) {
  static const QColor kColours[] = {
      QColor(31, 119, 180),  QColor(255, 127, 14), QColor(44, 160, 44),   QColor(214, 39, 40),
      QColor(148, 103, 189), QColor(140, 86, 75),  QColor(227, 119, 194), QColor(127, 127, 127)};
  constexpr int kCount = static_cast<int>(std::size(kColours));
  const QColor base = kColours[rank % kCount];
  // Past the palette, the same hues darker, so ranks 0 and 8 still differ.
  return rank < kCount ? base : base.darker(100 + 40 * (rank / kCount));
}

bool ChartView::save(const QString& path) {
  const int w = std::max(width(), kMinExportWidth);
  const int h = std::max(height(), kMinExportHeight);
  if (path.endsWith(QStringLiteral(".pdf"), Qt::CaseInsensitive))
    return savePdf(path, w, h, QCP::epNoCosmetic, QStringLiteral("xDiT Studio"), title_);
  return savePng(path, w, h, 1.0, -1);
}

void ChartView::saveWithDialog(const QString& suffix) {
  const QString folder = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation);
  QString name = title_.toLower();
  name.replace(QLatin1Char(' '), QLatin1Char('-'));
  const QString png = tr("PNG image (*.png)");
  const QString pdf = tr("PDF document (*.pdf)");
  const bool as_pdf = suffix == QStringLiteral("pdf");
  QString filter = as_pdf ? pdf : png;
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Save chart"), folder + QLatin1Char('/') + name + QLatin1Char('.') + suffix,
      as_pdf ? pdf + QStringLiteral(";;") + png : png + QStringLiteral(";;") + pdf, &filter);
  if (path.isEmpty())
    return;
  if (!save(path)) {
    QMessageBox::warning(
        this, tr("Save chart"),
        tr("Could not write %1 (is the folder writable and the disk not full?)").arg(path));
  }
}

void ChartView::showMenu(const QPoint& position) {
  QMenu menu(this);
  menu.addAction(tr("Save as PNG…"), this, [this] { saveWithDialog(QStringLiteral("png")); });
  menu.addAction(tr("Save as PDF…"), this, [this] { saveWithDialog(QStringLiteral("pdf")); });
  menu.addAction(tr("Reset zoom"), this, [this] {
    rescaleAxes();
    replot();
  });
  menu.exec(mapToGlobal(position));
}

}  // namespace xdit::ui
