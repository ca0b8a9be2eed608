#include <QTemporaryDir>
#include <QtTest/QtTest>

#include "extras_tests.hpp"
#include "ui/charts/charts_panel.hpp"
#include "ui/charts/gantt_chart.hpp"
#include "ui/charts/rank_series_chart.hpp"

namespace xdit::ui::testing {
namespace {

workers::ProgressMessage progress(int rank, int step, double seconds, int64_t rss) {
  workers::ProgressMessage p;
  p.rank = rank;
  p.step = step;
  p.total = 4;
  p.seconds = seconds;
  p.memory = {rss, rss + 1000};
  return p;
}

}  // namespace

void ChartsTest::progressFillsOneLinePerRankAndSeries() {
  ChartsPanel panel;
  panel.reset(3);
  for (int step = 1; step <= 4; ++step) {
    for (int rank = 0; rank < 3; ++rank) {
      if (rank == 2 && step > 2)
        continue;  // a slower rank is behind
      panel.addProgress(progress(rank, step, 0.5 + rank, int64_t{100 + step} << 20));
    }
  }
  RankSeriesChart* memory = panel.memoryChart();
  RankSeriesChart* latency = panel.latencyChart();
  QCOMPARE(memory->worldSize(), 3);
  QCOMPARE(memory->graphCount(), 6);  // current and peak per rank
  QCOMPARE(latency->graphCount(), 3);
  for (int rank = 0; rank < 3; ++rank) {
    const int points = rank == 2 ? 2 : 4;
    QCOMPARE(memory->series(rank, 0)->dataCount(), points);
    QCOMPARE(memory->series(rank, 1)->dataCount(), points);
    QCOMPARE(latency->series(rank, 0)->dataCount(), points);
  }
  // x = step, y = MiB / seconds.
  const auto last = memory->series(1, 0)->data()->at(3);
  QCOMPARE(last->key, 4.0);
  QCOMPARE(last->value, 104.0);
  QCOMPARE(latency->series(2, 0)->data()->at(0)->value, 2.5);
  QVERIFY(memory->series(3, 0) == nullptr);

  // A rank that reports before reset() still gets its line; the others keep theirs.
  panel.addProgress(progress(4, 1, 0.1, 1 << 20));
  QCOMPARE(latency->worldSize(), 5);
  QCOMPARE(latency->series(0, 0)->dataCount(), 4);
  QCOMPARE(latency->series(4, 0)->dataCount(), 1);

  panel.reset(2);
  QCOMPARE(memory->graphCount(), 4);
  QCOMPARE(memory->series(0, 0)->dataCount(), 0);
}

void ChartsTest::ganttSegmentsFillEachStep() {
  const RunRecord r = synthetic_record(3);
  const std::vector<GanttSegment> segments = gantt_segments(r.metrics);
  // Each rank: compute, all_to_all, compute, all_gather, compute.
  QCOMPARE(segments.size(), size_t{10});
  for (int rank = 0; rank < 2; ++rank) {
    const GanttSegment* s = &segments[static_cast<size_t>(rank) * 5];
    const QStringList kinds = {s[0].kind, s[1].kind, s[2].kind, s[3].kind, s[4].kind};
    QCOMPARE(kinds, QStringList({kComputeKind, QStringLiteral("all_to_all"), kComputeKind,
                                 QStringLiteral("all_gather"), kComputeKind}));
    QCOMPARE(s[0].rank, rank);
    QCOMPARE(s[0].start, 0.0);
    for (int i = 1; i < 5; ++i)
      QCOMPARE(s[i].start, s[i - 1].end);  // no gap, no overlap
    QVERIFY(qAbs(s[4].end - 0.3) < 1e-12);
  }
  QCOMPARE(segments[1].start, 0.03);  // rank 0 enters the exchange later ...
  QCOMPARE(segments[6].start, 0.01);  // ... so rank 1 waits longer for it

  // Overlapping or out-of-step waits are clipped, never drawn twice.
  std::vector<workers::MetricsMessage> odd(1);
  odd[0].timeline = {
      1, 1.0, {{parallel::CommOp::kRecv, 0.2, 0.6}, {parallel::CommOp::kSend, 0.5, 1.4}}};
  const auto clipped = gantt_segments(odd);
  QCOMPARE(clipped.size(), size_t{3});
  QCOMPARE(clipped[2].kind, QStringLiteral("send"));
  QCOMPARE(clipped[2].start, 0.6);
  QCOMPARE(clipped[2].end, 1.0);
  // A rank without a recorded step (a single process) shows nothing.
  QVERIFY(gantt_segments(std::vector<workers::MetricsMessage>(2)).empty());
}

void ChartsTest::ganttBarsFollowTheTimeline() {
  GanttChart chart;
  const RunRecord r = synthetic_record(3);
  chart.setMetrics(r.metrics);
  QCOMPARE(chart.segments().size(), size_t{10});
  QCOMPARE(chart.itemCount(), 10);
  for (int i = 0; i < 10; ++i) {
    const GanttSegment& s = chart.segments()[static_cast<size_t>(i)];
    QCPItemRect* bar = chart.bar(i);
    QCOMPARE(bar->topLeft->coords().x(), s.start * 1e3);
    QCOMPARE(bar->bottomRight->coords().x(), s.end * 1e3);
    QVERIFY(bar->topLeft->coords().y() < s.rank && bar->bottomRight->coords().y() > s.rank);
    QCOMPARE(bar->brush().color(), kind_colour(s.kind));
  }
  QVERIFY(kind_colour(QStringLiteral("all_to_all")) != kind_colour(kComputeKind));
  // The legend names each kind once: compute, all_to_all, all_gather.
  QCOMPARE(chart.legend->itemCount(), 3);
  chart.clear();
  QCOMPARE(chart.itemCount(), 0);
  QVERIFY(chart.segments().empty());
}

void ChartsTest::chartsSaveAsPngAndPdf() {
  QTemporaryDir dir;
  ChartsPanel panel;
  panel.showRecord(synthetic_record(4));
  for (ChartView* chart :
       {static_cast<ChartView*>(panel.memoryChart()), static_cast<ChartView*>(panel.latencyChart()),
        static_cast<ChartView*>(panel.ganttChart())}) {
    const QString png = dir.filePath(chart->title() + QStringLiteral(".png"));
    const QString pdf = dir.filePath(chart->title() + QStringLiteral(".pdf"));
    QVERIFY(chart->save(png));
    QVERIFY(chart->save(pdf));
    const QImage image(png);
    QVERIFY(!image.isNull());
    QVERIFY(image.width() >= 900);
    QFile file(pdf);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QVERIFY(file.read(5).startsWith("%PDF"));
  }
  QVERIFY(!panel.memoryChart()->save(dir.filePath(QStringLiteral("no/such/folder/x.png"))));
}

void ChartsTest::showRecordReplaysARun() {
  ChartsPanel panel;
  panel.showRecord(synthetic_record(5));
  QCOMPARE(panel.latencyChart()->worldSize(), 2);
  QCOMPARE(panel.latencyChart()->series(1, 0)->dataCount(), 5);
  QCOMPARE(panel.memoryChart()->series(0, 1)->dataCount(), 5);
  QCOMPARE(panel.ganttChart()->segments().size(), size_t{10});
}

}  // namespace xdit::ui::testing
