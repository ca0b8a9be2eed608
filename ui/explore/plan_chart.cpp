#include "ui/explore/plan_chart.hpp"

#include <algorithm>

namespace xdit::ui {

PlanChart::PlanChart(QWidget* parent) : ChartView(tr("Predicted and measured step time"), parent) {
  fitting_ = new QCPBars(xAxis, yAxis);
  fitting_->setName(tr("predicted s/step"));
  fitting_->setBrush(rankColour(0));
  fitting_->setPen(Qt::NoPen);
  not_fitting_ = new QCPBars(xAxis, yAxis);
  not_fitting_->setName(tr("predicted, does not fit"));
  not_fitting_->setBrush(QColor(190, 190, 190));
  not_fitting_->setPen(Qt::NoPen);
  measured_ = addGraph(xAxis, yAxis);
  measured_->setName(tr("measured s/step"));
  measured_->setLineStyle(QCPGraph::lsNone);
  measured_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, rankColour(1), 9));
  memory_ = addGraph(xAxis, yAxis2);
  memory_->setName(tr("predicted GiB per rank"));
  memory_->setLineStyle(QCPGraph::lsNone);
  memory_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCross, rankColour(2), 8));
  xAxis->setLabel(tr("configuration (rank in the plan)"));
  yAxis->setLabel(tr("s / step"));
  yAxis2->setLabel(tr("GiB per rank"));
  yAxis2->setVisible(true);
}

void PlanChart::setEntries(const std::vector<Entry>& entries) {
  QVector<double> fit_x, fit_y, out_x, out_y, measured_x, measured_y, memory_x, memory_y;
  QSharedPointer<QCPAxisTickerText> ticks(new QCPAxisTickerText);
  double highest = 0, most_memory = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    const double x = static_cast<double>(i + 1);
    (e.fits ? fit_x : out_x).push_back(x);
    (e.fits ? fit_y : out_y).push_back(e.predicted_seconds);
    if (e.measured_seconds >= 0) {
      measured_x.push_back(x);
      measured_y.push_back(e.measured_seconds);
    }
    memory_x.push_back(x);
    memory_y.push_back(e.memory_gib);
    ticks->addTick(x, QString::number(i + 1));
    highest = std::max({highest, e.predicted_seconds, e.measured_seconds});
    most_memory = std::max(most_memory, e.memory_gib);
  }
  fitting_->setData(fit_x, fit_y);
  not_fitting_->setData(out_x, out_y);
  measured_->setData(measured_x, measured_y);
  memory_->setData(memory_x, memory_y);
  xAxis->setTicker(ticks);
  xAxis->setRange(0.3, static_cast<double>(entries.size()) + 0.7);
  yAxis->setRange(0, highest > 0 ? highest * 1.15 : 1);
  yAxis2->setRange(0, most_memory > 0 ? most_memory * 1.15 : 1);
  replot();
}

}  // namespace xdit::ui
