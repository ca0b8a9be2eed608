#pragma once
// Values over the run, one line per rank and series: the memory chart (two
// series: current RSS solid, peak dashed) and the latency chart (one: seconds
// per step). Graph order: rank-major, graph(rank * series + s).

#include <QString>
#include <QStringList>

#include "ui/charts/chart_view.hpp"

namespace xdit::ui {

class RankSeriesChart : public ChartView {
  Q_OBJECT

 public:
  // One series per name; the first is drawn solid, the others dashed.
  RankSeriesChart(const QString& title, const QString& x_label, const QString& y_label,
                  QStringList series, QWidget* parent = nullptr);

  int worldSize() const { return world_size_; }
  int seriesCount() const { return static_cast<int>(series_.size()); }
  // Null outside [0, worldSize()) × [0, seriesCount()).
  QCPGraph* series(int rank, int s) const;
  // Names the rank's lines after where it runs ("rank 1 on cuda:1 (NVIDIA
  // H200) peak"); reset() forgets it.
  void setRankPlace(int rank, const QString& place);

 public Q_SLOTS:
  // Empty lines for `world_size` ranks.
  void reset(int world_size);
  // Ranks beyond the current world are added (a run may report before reset).
  void addPoint(int rank, int s, double x, double y);

 private:
  void nameLines(int rank);

  QStringList series_;
  QStringList places_;  // by rank; empty: not said
  int world_size_ = 0;
};

}  // namespace xdit::ui
