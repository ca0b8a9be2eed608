#include "ui/charts/charts_panel.hpp"

#include <QHBoxLayout>
#include <QPushButton>
#include <QTabWidget>
#include <QVBoxLayout>

#include "ui/charts/gantt_chart.hpp"
#include "ui/charts/rank_series_chart.hpp"

namespace xdit::ui {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

QString resident_memory_label() {
  return ChartsPanel::tr("resident memory (MiB)");
}

}  // namespace

ChartsPanel::ChartsPanel(QWidget* parent)
    : QWidget(parent),
      tabs_(new QTabWidget(this)),
      memory_(new RankSeriesChart(tr("Memory per rank"), tr("step"), resident_memory_label(),
                                  {tr("current"), tr("peak")})),
      latency_(new RankSeriesChart(tr("Step latency per rank"), tr("step"), tr("seconds"),
                                   {tr("s/step")})),
      gantt_(new GanttChart) {
  tabs_->addTab(memory_, tr("Memory"));
  tabs_->addTab(latency_, tr("Latency"));
  tabs_->addTab(gantt_, tr("Timeline"));

  auto* save_png = new QPushButton(tr("Save PNG…"));
  auto* save_pdf = new QPushButton(tr("Save PDF…"));
  save_png->setToolTip(tr("Save the chart shown as a PNG image"));
  save_pdf->setToolTip(tr("Save the chart shown as a PDF document"));
  connect(save_png, &QPushButton::clicked, this,
          [this] { currentChart()->saveWithDialog(QStringLiteral("png")); });
  connect(save_pdf, &QPushButton::clicked, this,
          [this] { currentChart()->saveWithDialog(QStringLiteral("pdf")); });
  auto* buttons = new QHBoxLayout;
  buttons->addStretch(1);
  buttons->addWidget(save_png);
  buttons->addWidget(save_pdf);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(tabs_, 1);
  layout->addLayout(buttons);
}

ChartView* ChartsPanel::currentChart() const {
  return static_cast<ChartView*>(tabs_->currentWidget());
}

void ChartsPanel::reset(int world_size) {
  memory_->reset(world_size);
  memory_->yAxis->setLabel(resident_memory_label());
  latency_->reset(world_size);
  gantt_->clear();
}

void ChartsPanel::addProgress(const workers::ProgressMessage& message) {
  const double step = static_cast<double>(message.step);
  if (const auto& gpu = message.memory.gpu) {
    memory_->addPoint(message.rank, 0, step, gpu->allocated_bytes / kMiB);
    memory_->addPoint(message.rank, 1, step, gpu->peak_allocated_bytes / kMiB);
    memory_->setRankPlace(message.rank, QString::fromStdString(gpu->label()));
    memory_->yAxis->setLabel(tr("GPU memory (MiB)"));
  } else {
    memory_->addPoint(message.rank, 0, step, message.memory.rss_bytes / kMiB);
    memory_->addPoint(message.rank, 1, step, message.memory.peak_rss_bytes / kMiB);
  }
  latency_->addPoint(message.rank, 0, step, message.seconds);
}

void ChartsPanel::setMetrics(const std::vector<workers::MetricsMessage>& metrics) {
  gantt_->setMetrics(metrics);
}

void ChartsPanel::showRecord(const RunRecord& record) {
  reset(record.spec.world_size);
  for (const workers::ProgressMessage& message : record.progress)
    addProgress(message);
  setMetrics(record.metrics);
}

}  // namespace xdit::ui
