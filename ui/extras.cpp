#include "ui/extras.hpp"

#include "ui/charts/charts_panel.hpp"
#include "ui/explore/explore_panel.hpp"
#include "ui/generation_form.hpp"
#include "ui/history/history_panel.hpp"
#include "ui/main_window.hpp"
#include "ui/run_controller.hpp"

namespace xdit::ui {

// Charts follow the running generation; every finished run goes into the
// history, and a history run re-runs through the form, so the form shows
// (and checks) the settings that are being generated.
void install_extras(MainWindow& window, RunController& runs) {
  auto* charts = new ChartsPanel;
  window.addPanel(charts, QObject::tr("Charts"));
  QObject::connect(&runs, &RunController::started, charts,
                   [charts](const workers::GroupSpec& spec) { charts->reset(spec.world_size); });
  QObject::connect(&runs, &RunController::progress, charts, &ChartsPanel::addProgress);
  QObject::connect(&runs, &RunController::finished, charts,
                   [charts](const RunRecord& record) { charts->setMetrics(record.metrics); });

  auto* history = new HistoryPanel;
  window.addPanel(history, QObject::tr("History"));
  QObject::connect(&runs, &RunController::finished, history, &HistoryPanel::addRecord);
  QObject::connect(history, &HistoryPanel::rerunRequested, &window,
                   [&window](const RunRecord& record) {
                     window.form().setSettings(ImageSettings{record.spec, record.request});
                     window.generate();
                   });

  // The meshes to run the form's model on: planned, measured, chosen.
  window.addPanel(new ExplorePanel(window.form()), QObject::tr("Explore"));
}

}  // namespace xdit::ui
