#pragma once
// One past run opened from the history: its image, its settings and figures,
// and its charts as they were when it ended.

#include <QDialog>

#include "ui/run_record.hpp"

namespace xdit::ui {

class ChartsPanel;

class RunDialog : public QDialog {
  Q_OBJECT

 public:
  explicit RunDialog(const RunRecord& record, QWidget* parent = nullptr);

  ChartsPanel* charts() const { return charts_; }

 Q_SIGNALS:
  void rerunRequested(xdit::ui::RunRecord record);

 private:
  ChartsPanel* charts_;
};

// Settings and figures of a run as readable lines (for the dialog and tooltips).
QString run_details(const RunRecord& record);

}  // namespace xdit::ui
