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

void RankSeriesChart::nameLines(int rank) {
  const QString place = rank < places_.size() ? places_[rank] : QString();
  const QString who =
      place.isEmpty() ? tr("rank %1").arg(rank) : tr("rank %1 on %2").arg(rank).arg(place);
  for (int s = 0; s < seriesCount(); ++s)
    series(rank, s)->setName(seriesCount() == 1 ? who : who + " " + series_[s]);
}

void RankSeriesChart::setRankPlace(int rank, const QString& place) {
  if (rank < 0 || rank >= world_size_)
    return;
  while (places_.size() <= rank)
    places_.append(QString());
  if (places_[rank] == place)
    return;
  places_[rank] = place;
  nameLines(rank);
  replot(rpQueuedReplot);
}

void RankSeriesChart::reset(int world_size) {
  clearGraphs();
  world_size_ = 0;
  places_.clear();
  for (int rank = 0; rank < world_size; ++rank) {
    for (int s = 0; s < seriesCount(); ++s) {
      QCPGraph* line = addGraph();
      QPen pen(rankColour(rank), s == 0 ? 2.0 : 1.5, s == 0 ? Qt::SolidLine : Qt::DashLine);
      line->setPen(pen);
      line->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, s == 0 ? 5 : 3));
    }
    world_size_ = rank + 1;
    nameLines(rank);
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
    const QStringList places = places_;
    reset(rank + 1);
    for (int i = 0; i < old * seriesCount(); ++i)
      graph(i)->setData(kept[i]);
    for (int r = 0; r < places.size(); ++r)
      setRankPlace(r, places[r]);
  }
  series(rank, s)->addData(x, y);
  rescaleAxes();
  // Room above the highest value and from zero, so lines do not hug the frame.
  yAxis->setRangeLower(0);
  yAxis->setRangeUpper(yAxis->range().upper * 1.1 + 1e-9);
  replot(rpQueuedReplot);
}

}  // namespace xdit::ui
