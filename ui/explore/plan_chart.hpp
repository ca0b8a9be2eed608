#pragma once
// The Explore tab's chart: per configuration of a plan, the predicted
// seconds per step as bars (those that do not fit greyed), the measured
// seconds of a sweep as points beside them, and the predicted memory per
// rank on the right axis.

#include <vector>

#include "ui/charts/chart_view.hpp"

namespace xdit::ui {

class PlanChart : public ChartView {
  Q_OBJECT

 public:
  explicit PlanChart(QWidget* parent = nullptr);

  struct Entry {
    QString label;
    double predicted_seconds = 0;
    double memory_gib = 0;
    bool fits = true;
    double measured_seconds = -1;  // < 0: not measured
  };
  void setEntries(const std::vector<Entry>& entries);

  QCPBars* fitting() const { return fitting_; }
  QCPBars* notFitting() const { return not_fitting_; }
  QCPGraph* measured() const { return measured_; }
  QCPGraph* memory() const { return memory_; }

 private:
  QCPBars* fitting_;
  QCPBars* not_fitting_;
  QCPGraph* measured_;
  QCPGraph* memory_;
};

}  // namespace xdit::ui
