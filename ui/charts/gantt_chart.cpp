#include "ui/charts/gantt_chart.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace xdit::ui {
namespace {

constexpr double kBarHalfHeight = 0.35;

}  // namespace

std::vector<GanttSegment> gantt_segments(const std::vector<workers::MetricsMessage>& metrics) {
  std::vector<const workers::MetricsMessage*> ranks;
  for (const auto& m : metrics) {
    if (m.timeline.step > 0)
      ranks.push_back(&m);
  }
  std::sort(ranks.begin(), ranks.end(), [](auto* a, auto* b) { return a->rank < b->rank; });
  std::vector<GanttSegment> out;
  for (const workers::MetricsMessage* m : ranks) {
    const parallel::StepTimeline& t = m->timeline;
    double cursor = 0;
    for (const parallel::CommInterval& w : t.waits) {
      const double start = std::clamp(w.start, cursor, t.seconds);
      const double end = std::clamp(w.end, start, t.seconds);
      if (start > cursor)
        out.push_back({m->rank, kComputeKind, cursor, start});
      if (end > start)
        out.push_back({m->rank, QString::fromStdString(std::string(op_name(w.op))), start, end});
      cursor = std::max(cursor, end);
    }
    if (t.seconds > cursor)
      out.push_back({m->rank, kComputeKind, cursor, t.seconds});
  }
  return out;
}

QColor kind_colour(const QString& kind) {
  static const std::map<QString, QColor> kColours = {
      {kComputeKind, QColor(120, 190, 120)},
      {QStringLiteral("all_to_all"), QColor(240, 140, 40)},
      {QStringLiteral("send"), QColor(215, 50, 50)},
      {QStringLiteral("recv"), QColor(170, 30, 90)},
      {QStringLiteral("all_gather"), QColor(50, 110, 210)},
      {QStringLiteral("all_reduce"), QColor(140, 80, 200)},
      {QStringLiteral("broadcast"), QColor(30, 160, 170)},
      {QStringLiteral("barrier"), QColor(90, 90, 90)}};
  const auto it = kColours.find(kind);
  return it == kColours.end() ? QColor(200, 200, 60) : it->second;
}

GanttChart::GanttChart(QWidget* parent)
    : ChartView(tr("Last step: compute and communication per rank"), parent) {
  xAxis->setLabel(tr("time in the step (ms)"));
  yAxis->setRangeReversed(true);  // rank 0 on top
  yAxis->grid()->setVisible(false);
  setInteraction(QCP::iRangeDrag, true);
  axisRect()->setRangeDrag(Qt::Horizontal);
  axisRect()->setRangeZoom(Qt::Horizontal);
  // The legend in a row of its own under the bars, which it would hide.
  auto* legend_row = new QCPLayoutGrid;
  plotLayout()->addElement(plotLayout()->rowCount(), 0, legend_row);
  axisRect()->insetLayout()->take(legend);
  legend_row->addElement(0, 0, legend);
  legend->setFillOrder(QCPLegend::foColumnsFirst);
  plotLayout()->setRowStretchFactor(plotLayout()->rowCount() - 1, 0.001);
  clear();
}

void GanttChart::clear() {
  clearItems();
  clearPlottables();
  segments_.clear();
  bars_.clear();
  yAxis->setTicker(QSharedPointer<QCPAxisTickerText>::create());
  xAxis->setRange(0, 1);
  yAxis->setRange(-0.5, 0.5);
  replot(rpQueuedReplot);
}

void GanttChart::setMetrics(const std::vector<workers::MetricsMessage>& metrics) {
  clear();
  segments_ = gantt_segments(metrics);
  std::set<QString> kinds;
  double longest = 0;
  std::map<int, double> waited;  // by rank
  std::map<int, double> step;
  for (const GanttSegment& s : segments_) {
    auto* bar = new QCPItemRect(this);
    bar->topLeft->setCoords(s.start * 1e3, s.rank - kBarHalfHeight);
    bar->bottomRight->setCoords(s.end * 1e3, s.rank + kBarHalfHeight);
    const QColor colour = kind_colour(s.kind);
    bar->setBrush(colour);
    bar->setPen(QPen(colour.darker(130), 0.5));
    bar->setSelectable(false);
    bars_.push_back(bar);
    kinds.insert(s.kind);
    longest = std::max(longest, s.end);
    if (s.kind != kComputeKind)
      waited[s.rank] += s.end - s.start;
    step[s.rank] = std::max(step[s.rank], s.end);
  }
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  int last_rank = 0;
  for (const auto& [rank, seconds] : step) {
    const double share = seconds > 0 ? 100.0 * waited[rank] / seconds : 0.0;
    ticker->addTick(rank, tr("rank %1\n%2% waiting").arg(rank).arg(share, 0, 'f', 0));
    last_rank = rank;
  }
  yAxis->setTicker(ticker);
  // Empty bar plottables stand in the legend for the colours.
  for (const QString& kind : kinds) {
    auto* key = new QCPBars(xAxis, yAxis);
    key->setName(kind);
    key->setBrush(kind_colour(kind));
    key->setPen(QPen(kind_colour(kind).darker(130)));
  }
  xAxis->setRange(0, std::max(longest * 1e3, 1e-3) * 1.02);
  yAxis->setRange(-0.6, last_rank + 0.6);
  replot(rpQueuedReplot);
}

}  // namespace xdit::ui
