#include "ui/charts/rank_series_chart.hpp"

namespace xdit::ui {

RankSeriesChart::RankSeriesChart(const QString& title, const QString& x_label,
                                 const QString& y_label, QStringList series, QWidget* parent)
    : ChartView(title, parent), series_(std::move(series)) {
  xAxis->setLabel(x_label);
  yAxis->setLabel(y_label);
  axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
}

QCPGraph* RankSeriesChart::series(int rank, int s) const {
  if (rank < 0 || rank >= world_size_ || s < 0 || s >= seriesCount())
    return nullptr;
  return graph(rank * seriesCount() + s);
}

void RankSeriesChart::reset(int world_size) {
  clearGraphs();
  world_size_ = 0;
  for (int rank = 0; rank < world_size; ++rank) {
    for (int s = 0; s < seriesCount(); ++s) {
      QCPGraph* line = addGraph();
      QPen pen(rankColour(rank), s == 0 ? 2.0 : 1.5, s == 0 ? Qt::SolidLine : Qt::DashLine);
      line->setPen(pen);
      line->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, s == 0 ? 5 : 3));
      line->setName(seriesCount() == 1 ? tr("rank %1").arg(rank)
                                       : tr("rank %1 %2").arg(rank).arg(series_[s]));
    }
    world_size_ = rank + 1;
  }
  xAxis->setRange(0, 1);
  yAxis->setRange(0, 1);
  replot(rpQueuedReplot);
}

void RankSeriesChart::addPoint(int rank, int s, double x, double y) {
  if (rank < 0 || s < 0 || s >= seriesCount())
    return;
  if (rank >= world_size_) {
    // Keep what the known ranks have: grow by re-adding only the new lines.
    const int old = world_size_;
    QVector<QSharedPointer<QCPGraphDataContainer>> kept;
    for (int i = 0; i < graphCount(); ++i)
      kept.push_back(graph(i)->data());
    reset(rank + 1);
    for (int i = 0; i < old * seriesCount(); ++i)
      graph(i)->setData(kept[i]);
  }
  series(rank, s)->addData(x, y);
  rescaleAxes();
  // Room above the highest value and from zero, so lines do not hug the frame.
  yAxis->setRangeLower(0);
  yAxis->setRangeUpper(yAxis->range().upper * 1.1 + 1e-9);
  replot(rpQueuedReplot);
}

}  // namespace xdit::ui
