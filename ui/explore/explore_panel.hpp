#pragma once
// The Studio's Explore tab: what mesh to run the form's model on.
//  - Plan: every mesh of the chosen number of devices, predicted by the
//    planner (plan/planner.hpp) with this machine's calibration or a preset
//    link, in a ranked table and a chart; meshes that do not fit are greyed
//    with the reason.
//  - Sweep: the checked meshes measured, each on a fresh worker group
//    (workers/sweep_runner.hpp), with progress; the measured seconds join
//    the table and the chart beside the predictions.
//  - Use: fills the form with the selected mesh.
//  - Export: the last sweep's report, or the history's (HTML, PDF by the
//    file's suffix, with JSON and CSV beside it).
// Planning and sweeping run off the GUI thread; the tab stays usable.

#include <QFutureWatcher>
#include <QWidget>
#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "plan/planner.hpp"
#include "report/sweep_report.hpp"
#include "ui/history/history_store.hpp"
#include "ui/image_files.hpp"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace xdit::ui {

class GenerationForm;
class PlanChart;

class ExplorePanel : public QWidget {
  Q_OBJECT

 public:
  // Sweeps keep their results under `sweep_folder` (default: the
  // application's data folder, sweeps/); `history` is what Export history
  // reads.
  ExplorePanel(GenerationForm& form, HistoryStore history = HistoryStore(),
               std::filesystem::path sweep_folder = {}, QWidget* parent = nullptr);
  ~ExplorePanel() override;

  QTableWidget* table() const { return table_; }
  PlanChart* chart() const { return chart_; }
  QSpinBox* devicesBox() const { return devices_; }
  QComboBox* interconnectBox() const { return interconnect_; }
  QDoubleSpinBox* memoryBox() const { return memory_; }
  QString statusText() const;
  const std::vector<plan::PlannedMesh>& plans() const { return plans_; }
  // The results file of the last sweep; empty before one.
  const std::filesystem::path& lastSweep() const { return last_sweep_; }

 public Q_SLOTS:
  // Plans for the form's model and request (planned or problem follows).
  void plan();
  // Measures the checked rows (swept or problem follows).
  void sweepChecked();
  void stopSweep();
  // Fills the form with the selected row's mesh.
  void useSelected();
  // The last sweep's report to `path` (.html or .pdf); JSON and CSV beside.
  void exportSweepReport(const QString& path);
  // The history's report to `path`.
  void exportHistoryReport(const QString& path);

 Q_SIGNALS:
  void planned();
  void sweepProgress(int steps_done, int steps_total);
  void swept();
  void exported(QString path);
  void problem(QString message);

 private:
  struct PlanOutcome {
    std::vector<plan::PlannedMesh> plans;
    double serial_seconds = 0;
    QString source;  // where the rate and link came from
    QString error;
  };
  struct SweepOutcome {
    std::filesystem::path results;
    std::vector<nlohmann::ordered_json> rows;
    QString error;
  };
  void showPlan();
  void showSweep();
  void fillChart();
  void setStatus(const QString& text);
  void exportReport(const report::SweepReport& report, const QString& path);
  std::vector<int> checkedRows() const;
  // The `xdit generate` flags of row `row`'s mesh with the form's request.
  std::string rowFlags(const ImageSettings& settings, int row) const;

  GenerationForm& form_;
  HistoryStore history_;
  std::filesystem::path sweep_folder_;
  std::vector<plan::PlannedMesh> plans_;
  ImageSettings planned_settings_;
  std::vector<double> measured_;           // by plan row; < 0: not measured
  std::map<std::string, int> sweep_rows_;  // plan row by the flags of its sweep row
  std::filesystem::path last_sweep_;
  std::atomic<bool> stop_{false};

  QSpinBox* devices_;
  QComboBox* interconnect_;
  QDoubleSpinBox* memory_;
  QPushButton* plan_button_;
  QPushButton* sweep_button_;
  QPushButton* stop_button_;
  QPushButton* use_button_;
  QPushButton* export_button_;
  QPushButton* export_history_button_;
  QProgressBar* progress_;
  QLabel* status_;
  QTableWidget* table_;
  PlanChart* chart_;
  QFutureWatcher<PlanOutcome> planning_;
  QFutureWatcher<SweepOutcome> sweeping_;
};

}  // namespace xdit::ui
