#pragma once
// The run's charts, filled live: per-rank memory (current and peak: GPU
// memory, labelled with the device, for ranks on GPUs; resident memory
// otherwise) and seconds per step, from every ProgressMessage; at the end, the last step's
// compute/communication timeline per rank, from the MetricsMessages. Each
// chart saves as PNG or PDF (buttons, or a chart's right-click menu).

#include <QWidget>
#include <vector>

#include "ui/run_record.hpp"
#include "workers/control_protocol.hpp"

class QTabWidget;

namespace xdit::ui {

class ChartView;
class GanttChart;
class RankSeriesChart;

class ChartsPanel : public QWidget {
  Q_OBJECT

 public:
  explicit ChartsPanel(QWidget* parent = nullptr);

  // Series 0: current, 1: peak memory, in MiB, over steps (GPU memory for
  // ranks on GPUs, RSS otherwise).
  RankSeriesChart* memoryChart() const { return memory_; }
  // Series 0: seconds of each step.
  RankSeriesChart* latencyChart() const { return latency_; }
  GanttChart* ganttChart() const { return gantt_; }
  // The chart of the visible tab.
  ChartView* currentChart() const;

 public Q_SLOTS:
  void reset(int world_size);
  void addProgress(const xdit::workers::ProgressMessage& message);
  void setMetrics(const std::vector<xdit::workers::MetricsMessage>& metrics);
  // The charts of a past run, as they were when it ended.
  void showRecord(const xdit::ui::RunRecord& record);

 private:
  QTabWidget* tabs_;
  RankSeriesChart* memory_;
  RankSeriesChart* latency_;
  GanttChart* gantt_;
};

}  // namespace xdit::ui
