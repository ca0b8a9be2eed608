#include "ui/explore/explore_panel.hpp"

#include <QComboBox>
#include <QDateTime>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent>
#include <cmath>
#include <map>

#include "core/device.hpp"
#include "core/error.hpp"
#include "io/model_folder.hpp"
#include "pipelines/builtin_models.hpp"
#include "plan/calibration.hpp"
#include "report/report_files.hpp"
#include "ui/explore/plan_chart.hpp"
#include "ui/generation_form.hpp"
#include "ui/history/history_report.hpp"
#include "workers/generate_settings.hpp"
#include "workers/sweep_runner.hpp"

namespace xdit::ui {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

enum Column { kCheck, kRank, kMesh, kPredicted, kSpeedup, kMemory, kMeasured, kWhy, kColumns };

QString number(double value, int decimals) {
  return QString::number(value, 'f', decimals);
}

// The planner's request for the form's settings.
plan::PlanRequest plan_request(const ImageSettings& settings, int devices,
                               const QString& interconnect, double memory_gib,
                               const std::optional<plan::Calibration>& calibration,
                               QString& source) {
  plan::PlanRequest request;
  request.request = settings.request;
  request.devices = devices;
  if (memory_gib > 0)
    request.device_memory_bytes = memory_gib * kGiB;
  try {
    request.dtype = settings.spec.pipeline_options().dtype;
  } catch (const Error&) {
    request.dtype = at::kBFloat16;  // a GPU this machine lacks: plan for its usual dtype
  }
  request.link =
      plan::named_link(interconnect.toStdString(), calibration, plan::default_calibration_path());
  source = QString::fromStdString(plan::use_this_machine(calibration, request));
  return request;
}

}  // namespace

ExplorePanel::ExplorePanel(GenerationForm& form, HistoryStore history,
                           std::filesystem::path sweep_folder, QWidget* parent)
    : QWidget(parent),
      form_(form),
      history_(std::move(history)),
      sweep_folder_(sweep_folder.empty()
                        ? std::filesystem::path(
                              QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)
                                  .toStdString()) /
                              "sweeps"
                        : std::move(sweep_folder)) {
  devices_ = new QSpinBox;
  devices_->setRange(1, 64);
  devices_->setValue(std::max(2, form_.settings().spec.world_size));
  devices_->setToolTip(tr("Devices (ranks) to plan for"));
  interconnect_ = new QComboBox;
  for (const char* name : {"measured", "nvlink", "pcie", "ethernet"})
    interconnect_->addItem(QString::fromLatin1(name));
  interconnect_->setToolTip(
      tr("measured: this machine's link (xdit plan --calibrate); the others are presets"));
  memory_ = new QDoubleSpinBox;
  memory_->setRange(0, 4096);
  memory_->setDecimals(3);
  memory_->setSuffix(tr(" GiB"));
  memory_->setSpecialValueText(tr("no limit"));
  memory_->setToolTip(tr("Memory of one device; meshes needing more are greyed"));
  plan_button_ = new QPushButton(tr("Plan"));
  sweep_button_ = new QPushButton(tr("Measure checked"));
  stop_button_ = new QPushButton(tr("Stop"));
  use_button_ = new QPushButton(tr("Use in form"));
  export_button_ = new QPushButton(tr("Export sweep report…"));
  export_history_button_ = new QPushButton(tr("Export history report…"));
  progress_ = new QProgressBar;
  progress_->setVisible(false);
  status_ = new QLabel;
  status_->setWordWrap(true);

  table_ = new QTableWidget(0, kColumns);
  table_->setHorizontalHeaderLabels({QString(), tr("#"), tr("mesh"), tr("predicted s/step"),
                                     tr("speedup"), tr("GiB/rank"), tr("measured s/step"),
                                     tr("why")});
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->setVisible(false);
  chart_ = new PlanChart;

  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Devices")));
  controls->addWidget(devices_);
  controls->addWidget(new QLabel(tr("Link")));
  controls->addWidget(interconnect_);
  controls->addWidget(new QLabel(tr("Memory")));
  controls->addWidget(memory_);
  controls->addWidget(plan_button_);
  controls->addStretch();
  auto* actions = new QHBoxLayout;
  for (QPushButton* button :
       {sweep_button_, stop_button_, use_button_, export_button_, export_history_button_})
    actions->addWidget(button);
  actions->addWidget(progress_, 1);
  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(table_);
  split->addWidget(chart_);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(controls);
  layout->addWidget(status_);
  layout->addWidget(split, 1);
  layout->addLayout(actions);

  connect(plan_button_, &QPushButton::clicked, this, &ExplorePanel::plan);
  connect(sweep_button_, &QPushButton::clicked, this, &ExplorePanel::sweepChecked);
  connect(stop_button_, &QPushButton::clicked, this, &ExplorePanel::stopSweep);
  connect(use_button_, &QPushButton::clicked, this, &ExplorePanel::useSelected);
  connect(export_button_, &QPushButton::clicked, this, [this] {
    exportSweepReport(QFileDialog::getSaveFileName(this, tr("Export sweep report"),
                                                   QStringLiteral("sweep.html"),
                                                   tr("HTML page (*.html);;PDF (*.pdf)")));
  });
  connect(export_history_button_, &QPushButton::clicked, this, [this] {
    exportHistoryReport(QFileDialog::getSaveFileName(this, tr("Export history report"),
                                                     QStringLiteral("history.html"),
                                                     tr("HTML page (*.html);;PDF (*.pdf)")));
  });
  connect(&planning_, &QFutureWatcher<PlanOutcome>::finished, this, &ExplorePanel::showPlan);
  connect(&sweeping_, &QFutureWatcher<SweepOutcome>::finished, this, &ExplorePanel::showSweep);
  connect(this, &ExplorePanel::sweepProgress, this, [this](int done, int total) {
    progress_->setRange(0, std::max(1, total));
    progress_->setValue(done);
  });
  connect(this, &ExplorePanel::problem, this, &ExplorePanel::setStatus);
  stop_button_->setEnabled(false);
  sweep_button_->setEnabled(false);
  use_button_->setEnabled(false);
  export_button_->setEnabled(false);
  setStatus(tr("Plan: every mesh of the devices for the form's model and image, predicted."));
}

ExplorePanel::~ExplorePanel() {
  stop_ = true;
  planning_.waitForFinished();
  sweeping_.waitForFinished();
}

QString ExplorePanel::statusText() const {
  return status_->text();
}

void ExplorePanel::setStatus(const QString& text) {
  status_->setText(text);
}

void ExplorePanel::plan() {
  if (planning_.isRunning())
    return;
  const ImageSettings settings = form_.settings();
  const int devices = devices_->value();
  const QString interconnect = interconnect_->currentText();
  const double memory = memory_->value();
  planned_settings_ = settings;
  plan_button_->setEnabled(false);
  setStatus(tr("Planning %1 device(s)…").arg(devices));
  planning_.setFuture(QtConcurrent::run([=]() {
    PlanOutcome out;
    try {
      const io::ModelFolder folder(pipelines::resolve_model(settings.spec.model));
      const auto calibration = plan::read_calibration(plan::default_calibration_path());
      plan::PlanRequest request =
          plan_request(settings, devices, interconnect, memory, calibration, out.source);
      out.plans = plan::plan_meshes(folder, request);
      request.devices = 1;
      out.serial_seconds = plan::predict_mesh(folder, request, {}).seconds_per_step;
    } catch (const std::exception& e) {
      out.error = QString::fromStdString(e.what());
    }
    return out;
  }));
}

void ExplorePanel::showPlan() {
  plan_button_->setEnabled(true);
  const PlanOutcome out = planning_.result();
  if (!out.error.isEmpty()) {
    Q_EMIT problem(tr("Cannot plan: %1").arg(out.error));
    return;
  }
  plans_ = out.plans;
  measured_.assign(plans_.size(), -1);
  table_->setRowCount(static_cast<int>(plans_.size()));
  for (int row = 0; row < static_cast<int>(plans_.size()); ++row) {
    const plan::PlannedMesh& p = plans_[static_cast<size_t>(row)];
    auto* check = new QTableWidgetItem;
    check->setFlags(p.fits ? Qt::ItemIsUserCheckable | Qt::ItemIsEnabled : Qt::NoItemFlags);
    check->setCheckState(row < 3 && p.fits ? Qt::Checked : Qt::Unchecked);
    table_->setItem(row, kCheck, check);
    const QStringList cells = {
        QString::number(row + 1),
        QString::fromStdString(p.config.label()),
        number(p.seconds_per_step, 3),
        number(out.serial_seconds / p.seconds_per_step, 2) + QStringLiteral("×"),
        number(static_cast<double>(p.memory_per_rank_bytes) / kGiB, 2),
        QString(),
        QString::fromStdString(p.why)};
    for (int c = 0; c < cells.size(); ++c) {
      auto* item = new QTableWidgetItem(cells[c]);
      item->setToolTip(QString::fromStdString(p.flags));
      if (!p.fits)
        item->setForeground(QColor(150, 150, 150));
      table_->setItem(row, kRank + c, item);
    }
  }
  table_->resizeColumnsToContents();
  if (!plans_.empty())
    table_->selectRow(0);
  fillChart();
  sweep_button_->setEnabled(!plans_.empty());
  use_button_->setEnabled(!plans_.empty());
  setStatus(plans_.empty()
                ? tr("No mesh of %1 device(s) can run this request.").arg(devices_->value())
                : QString::fromStdString(plan::explain_best(plans_, out.serial_seconds)) +
                      QStringLiteral("  (") + out.source + QStringLiteral(")"));
  Q_EMIT planned();
}

void ExplorePanel::fillChart() {
  std::vector<PlanChart::Entry> entries;
  for (size_t i = 0; i < plans_.size(); ++i) {
    const plan::PlannedMesh& p = plans_[i];
    entries.push_back({QString::fromStdString(p.config.label()), p.seconds_per_step,
                       static_cast<double>(p.memory_per_rank_bytes) / kGiB, p.fits, measured_[i]});
  }
  chart_->setEntries(entries);
}

std::vector<int> ExplorePanel::checkedRows() const {
  std::vector<int> rows;
  for (int row = 0; row < table_->rowCount(); ++row) {
    if (table_->item(row, kCheck)->checkState() == Qt::Checked)
      rows.push_back(row);
  }
  return rows;
}

std::string ExplorePanel::rowFlags(const ImageSettings& settings, int row) const {
  workers::GroupSpec spec = settings.spec;
  spec.parallel = plans_.at(static_cast<size_t>(row)).config;
  spec.world_size = static_cast<int>(spec.parallel.product());
  return workers::join_command_line(workers::generate_words(spec, settings.request));
}

void ExplorePanel::sweepChecked() {
  if (sweeping_.isRunning())
    return;
  const std::vector<int> rows = checkedRows();
  if (rows.empty()) {
    Q_EMIT problem(tr("Check the meshes to measure first."));
    return;
  }
  workers::SweepSpec spec;
  spec.title = "xDiT Studio: " + planned_settings_.spec.model;
  spec.warmup_runs = 1;
  spec.repeats = 2;
  spec.configs.clear();
  std::map<std::string, int> plan_row;  // by the row's flags as the sweep writes them
  for (int row : rows) {
    const std::string flags = rowFlags(planned_settings_, row);
    spec.configs.push_back(flags);
    plan_row[workers::join_command_line(workers::split_command_line(flags))] = row;
  }
  std::vector<workers::SweepRow> sweep;
  try {
    sweep = workers::expand_sweep(spec);
  } catch (const Error& e) {
    Q_EMIT problem(tr("Cannot measure: %1").arg(QString::fromStdString(e.what())));
    return;
  }
  std::filesystem::create_directories(sweep_folder_);
  const std::filesystem::path results =
      sweep_folder_ /
      (QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")).toStdString() +
       ".jsonl");
  stop_ = false;
  sweep_button_->setEnabled(false);
  stop_button_->setEnabled(true);
  progress_->setVisible(true);
  progress_->setValue(0);
  setStatus(tr("Measuring %1 mesh(es) (and their serial twin), each on a fresh worker group…")
                .arg(rows.size()));
  sweeping_.setFuture(QtConcurrent::run([this, sweep, spec, results]() {
    SweepOutcome out;
    out.results = results;
    try {
      workers::SweepOptions options;
      options.results = results;
      options.calibration = plan::read_calibration(plan::default_calibration_path());
      options.stop_requested = [this] { return stop_.load(); };
      workers::SweepCallbacks callbacks;
      callbacks.on_progress = [this](const workers::SweepProgress& p) {
        Q_EMIT sweepProgress(static_cast<int>(p.steps_done), static_cast<int>(p.steps_total));
      };
      nlohmann::ordered_json environment = {{"source", "xDiT Studio"}};
      out.rows = workers::run_sweep(sweep, spec, environment, options, callbacks);
    } catch (const std::exception& e) {
      out.error = QString::fromStdString(e.what());
    }
    return out;
  }));
  sweep_rows_ = plan_row;
}

void ExplorePanel::stopSweep() {
  stop_ = true;
  setStatus(tr("Stopping after the row that runs…"));
}

void ExplorePanel::showSweep() {
  const SweepOutcome out = sweeping_.result();
  sweep_button_->setEnabled(true);
  stop_button_->setEnabled(false);
  progress_->setVisible(false);
  if (!out.error.isEmpty()) {
    Q_EMIT problem(tr("The sweep failed: %1").arg(out.error));
    return;
  }
  last_sweep_ = out.results;
  export_button_->setEnabled(true);
  int measured = 0, not_run = 0;
  for (const auto& row : out.rows) {
    const auto found = sweep_rows_.find(row.value("flags", ""));
    if (found == sweep_rows_.end())
      continue;  // a serial twin
    const int index = found->second;
    if (row.value("status", "") == "ok") {
      measured_[static_cast<size_t>(index)] = row["step_seconds"]["median"].get<double>();
      table_->item(index, kMeasured)->setText(number(measured_[static_cast<size_t>(index)], 3));
      ++measured;
    } else {
      table_->item(index, kMeasured)->setText(tr("not run"));
      table_->item(index, kMeasured)->setToolTip(QString::fromStdString(row.value("reason", "")));
      ++not_run;
    }
  }
  fillChart();
  setStatus(tr("Measured %1 mesh(es)%2; results in %3")
                .arg(measured)
                .arg(not_run ? tr(", %1 could not run (see the tooltips)").arg(not_run) : QString())
                .arg(QString::fromStdString(out.results.string())));
  Q_EMIT swept();
}

void ExplorePanel::useSelected() {
  const auto selected = table_->selectionModel()->selectedRows();
  if (selected.isEmpty() || plans_.empty())
    return;
  ImageSettings settings = form_.settings();
  settings.spec.parallel = plans_.at(static_cast<size_t>(selected.front().row())).config;
  settings.spec.world_size = static_cast<int>(settings.spec.parallel.product());
  form_.setSettings(settings);
  setStatus(
      tr("The form now runs %1.").arg(QString::fromStdString(settings.spec.parallel.label())));
}

void ExplorePanel::exportReport(const report::SweepReport& report, const QString& path) {
  if (path.isEmpty())
    return;
  const std::filesystem::path target = path.toStdString();
  report::ReportFiles files;
  const bool pdf = target.extension() == ".pdf";
  (pdf ? files.pdf : files.html) = target;
  files.json = std::filesystem::path(target).replace_extension(".json");
  files.csv = std::filesystem::path(target).replace_extension(".csv");
  try {
    report::write_report_files(report, files);
  } catch (const std::exception& e) {
    Q_EMIT problem(tr("Cannot export: %1").arg(QString::fromStdString(e.what())));
    return;
  }
  setStatus(tr("Report written to %1 (JSON and CSV beside it).").arg(path));
  Q_EMIT exported(path);
}

void ExplorePanel::exportSweepReport(const QString& path) {
  if (last_sweep_.empty()) {
    Q_EMIT problem(tr("Measure some meshes first."));
    return;
  }
  try {
    exportReport(report::read_sweep_report(last_sweep_), path);
  } catch (const std::exception& e) {
    Q_EMIT problem(tr("Cannot export: %1").arg(QString::fromStdString(e.what())));
  }
}

void ExplorePanel::exportHistoryReport(const QString& path) {
  std::vector<RunRecord> records;
  for (const HistoryEntry& entry : history_.list()) {
    try {
      records.push_back(history_.load(entry.id));
    } catch (const std::exception&) {
      // A broken entry is the history panel's to report; the rest export.
    }
  }
  if (records.empty()) {
    Q_EMIT problem(tr("The history is empty."));
    return;
  }
  exportReport(history_report(records), path);
}

}  // namespace xdit::ui
