#pragma once
// Two runs side by side: both images, their difference (amplified), and
// their figures: settings, seconds per step, total time, peak memory of each
// rank.

#include <QDialog>

#include "ui/history/image_difference.hpp"
#include "ui/run_record.hpp"

class QTableWidget;

namespace xdit::ui {

class CompareDialog : public QDialog {
  Q_OBJECT

 public:
  CompareDialog(const RunRecord& a, const RunRecord& b, QWidget* parent = nullptr);

  const ImageDifference& difference() const { return difference_; }
  QTableWidget* figures() const { return figures_; }

 private:
  ImageDifference difference_;
  QTableWidget* figures_;
};

}  // namespace xdit::ui
