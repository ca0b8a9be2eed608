#pragma once
// The last denoising step of every rank on one time axis: a bar per rank,
// cut into compute and the waits on each kind of communication (from each
// rank's MetricsMessage::timeline), so one sees which rank waits for whom.

#include <QColor>
#include <QString>
#include <vector>

#include "ui/charts/chart_view.hpp"
#include "workers/control_protocol.hpp"

namespace xdit::ui {

struct GanttSegment {
  int rank = 0;
  QString kind;      // "compute", or the operation waited for ("all_to_all", "recv", ...)
  double start = 0;  // seconds from the step's start
  double end = 0;
};

inline const QString kComputeKind = QStringLiteral("compute");

// Each rank's step, compute filling the gaps between its waits; by rank,
// then time. Ranks without a recorded step contribute nothing.
std::vector<GanttSegment> gantt_segments(const std::vector<workers::MetricsMessage>& metrics);

// One colour per kind: compute green, each operation its own.
QColor kind_colour(const QString& kind);

class GanttChart : public ChartView {
  Q_OBJECT

 public:
  explicit GanttChart(QWidget* parent = nullptr);

  const std::vector<GanttSegment>& segments() const { return segments_; }
  // The bar of segments()[i].
  QCPItemRect* bar(int i) const { return bars_.at(static_cast<size_t>(i)); }

 public Q_SLOTS:
  void clear();
  void setMetrics(const std::vector<xdit::workers::MetricsMessage>& metrics);

 private:
  std::vector<GanttSegment> segments_;
  std::vector<QCPItemRect*> bars_;
};

}  // namespace xdit::ui
