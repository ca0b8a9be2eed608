#include "ui/history/compare_dialog.hpp"

#include <QDialogButtonBox>
#include <QGridLayout>
#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <map>

namespace xdit::ui {
namespace {

constexpr int kShownSize = 320;

QLabel* picture(const QImage& image, const QString& empty) {
  auto* label = new QLabel;
  label->setAlignment(Qt::AlignCenter);
  label->setMinimumSize(kShownSize / 2, kShownSize / 2);
  if (image.isNull()) {
    label->setText(empty);
  } else {
    // Nearest neighbour: a small image stays sharp, its pixels visible.
    const Qt::TransformationMode mode =
        image.width() < kShownSize ? Qt::FastTransformation : Qt::SmoothTransformation;
    label->setPixmap(
        QPixmap::fromImage(image.scaled(kShownSize, kShownSize, Qt::KeepAspectRatio, mode)));
  }
  return label;
}

QLabel* caption(const QString& text) {
  auto* label = new QLabel(text);
  label->setAlignment(Qt::AlignCenter);
  label->setWordWrap(true);
  return label;
}

// The peak RSS of each rank: what that rank's share of the model costs.
std::map<int, int64_t> peak_by_rank(const RunRecord& record) {
  std::map<int, int64_t> peak;
  const auto note = [&](int rank, const workers::MemorySample& m) {
    peak[rank] = std::max({peak[rank], m.rss_bytes, m.peak_rss_bytes});
  };
  for (const auto& m : record.ready)
    note(m.rank, m.memory);
  for (const auto& m : record.progress)
    note(m.rank, m.memory);
  for (const auto& m : record.metrics)
    note(m.rank, m.memory);
  return peak;
}

QString ratio_text(double a, double b) {
  if (a <= 0 || b <= 0)
    return {};
  return QStringLiteral("×%1").arg(b / a, 0, 'f', 2);
}

}  // namespace

CompareDialog::CompareDialog(const RunRecord& a, const RunRecord& b, QWidget* parent)
    : QDialog(parent),
      difference_(difference_image(a.image, b.image)),
      figures_(new QTableWidget(0, 3)) {
  setWindowTitle(tr("Compare runs %1 and %2").arg(a.id, b.id));
  auto* grid = new QGridLayout;
  grid->addWidget(picture(a.image, tr("No image")), 0, 0);
  grid->addWidget(picture(b.image, tr("No image")), 0, 1);
  grid->addWidget(picture(difference_.image, tr("Nothing to compare")), 0, 2);
  grid->addWidget(caption(tr("A: %1").arg(a.started.toLocalTime().toString(Qt::ISODate))), 1, 0);
  grid->addWidget(caption(tr("B: %1").arg(b.started.toLocalTime().toString(Qt::ISODate))), 1, 1);
  QString diff_text = tr("Difference");
  if (!difference_.image.isNull()) {
    diff_text = difference_.max_level == 0 ? tr("Identical images")
                                           : tr("|A − B| ×%1: largest %2, mean %3 of 255")
                                                 .arg(difference_.gain, 0, 'f', 1)
                                                 .arg(difference_.max_level)
                                                 .arg(difference_.mean_level, 0, 'f', 2);
  }
  grid->addWidget(caption(diff_text), 1, 2);

  figures_->setHorizontalHeaderLabels({tr("A"), tr("B"), tr("B / A")});
  const auto row = [this](const QString& name, const QString& x, const QString& y,
                          const QString& ratio) {
    const int r = figures_->rowCount();
    figures_->insertRow(r);
    figures_->setVerticalHeaderItem(r, new QTableWidgetItem(name));
    figures_->setItem(r, 0, new QTableWidgetItem(x));
    figures_->setItem(r, 1, new QTableWidgetItem(y));
    figures_->setItem(r, 2, new QTableWidgetItem(ratio));
  };
  row(tr("Settings"), settings_summary(a), settings_summary(b), {});
  row(tr("Degrees"), QString::fromStdString(a.spec.parallel.describe()),
      QString::fromStdString(b.spec.parallel.describe()), {});
  const double spa = seconds_per_step(a);
  const double spb = seconds_per_step(b);
  row(tr("Seconds per step"), QString::number(spa, 'f', 3), QString::number(spb, 'f', 3),
      ratio_text(spa, spb));
  row(tr("Total seconds"), QString::number(a.total_seconds, 'f', 2),
      QString::number(b.total_seconds, 'f', 2), ratio_text(a.total_seconds, b.total_seconds));
  const double ma = static_cast<double>(peak_memory_bytes(a));
  const double mb = static_cast<double>(peak_memory_bytes(b));
  row(tr("Peak memory of a rank"), bytes_text(peak_memory_bytes(a)),
      bytes_text(peak_memory_bytes(b)), ratio_text(ma, mb));
  const auto peaks_a = peak_by_rank(a);
  const auto peaks_b = peak_by_rank(b);
  const int ranks = std::max(a.spec.world_size, b.spec.world_size);
  for (int rank = 0; rank < ranks; ++rank) {
    const auto text = [rank](const std::map<int, int64_t>& peaks) {
      const auto it = peaks.find(rank);
      return it == peaks.end() ? QString() : bytes_text(it->second);
    };
    row(tr("Peak memory, rank %1").arg(rank), text(peaks_a), text(peaks_b), {});
  }
  figures_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  figures_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  figures_->setWordWrap(true);

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(grid);
  layout->addWidget(figures_, 1);
  layout->addWidget(buttons);
  resize(1050, 720);
}

}  // namespace xdit::ui
