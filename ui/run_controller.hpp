#pragma once
// Runs generations for the Studio on a local worker group (the launcher of
// `xdit generate --nproc N`), off the GUI thread. The controller lives on the
// GUI thread; a private worker object on its own QThread drives the
// workers::Launcher, so nothing here blocks the GUI on the workers or the
// disk. Every signal is emitted on the GUI thread (the controller's).
//
//   RunController runs;
//   connect(&runs, &RunController::preview, view, &ImageView::showImage);
//   runs.generate(spec, request);   // returns at once
//   runs.cancel();                  // stops the group; `cancelled` follows
//
// The group stays warm between generations with the same model and mesh
// (GroupSpec): the second image does not reload weights. A changed spec stops
// the group and starts another. Between runs a timer asks the launcher to
// check() its workers, so a worker lost while idle is reported at once
// (`failed`) and the next generation starts a new group. Destroying the
// controller stops the group: no worker outlives it.

#include <sys/types.h>

#include <QImage>
#include <QObject>
#include <QString>
#include <QThread>
#include <memory>
#include <vector>

#include "pipelines/generation.hpp"
#include "ui/run_record.hpp"
#include "workers/control_protocol.hpp"
#include "workers/group_spec.hpp"
#include "workers/launcher.hpp"

namespace xdit::ui {

class RunWorker;

class RunController : public QObject {
  Q_OBJECT

 public:
  explicit RunController(workers::LaunchOptions options = {}, QObject* parent = nullptr);
  // Stops the group and the thread (blocks until the workers are reaped).
  ~RunController() override;

  // Queues a generation; `started` follows, then `finished`, `failed` or
  // `cancelled`. Ignored (returns false) while one is running.
  bool generate(const workers::GroupSpec& spec, const pipelines::GenerationRequest& request);
  // Stops the running generation's group (from the GUI thread, at once).
  void cancel();
  // Stops the warm group, if any, without waiting for it.
  void stopGroup();
  bool busy() const { return busy_; }
  // Process ids of the warm group's workers, by rank; empty without a group.
  // For tests and diagnostics.
  std::vector<pid_t> workerPids() const;

  // Previews every `steps` steps (0: none; negative: about ten per image,
  // the default).
  void setPreviewEvery(int steps);

 Q_SIGNALS:
  // A generation was accepted; `startingGroup` tells whether it must start
  // (and load) a new worker group first.
  void started(xdit::workers::GroupSpec spec, xdit::pipelines::GenerationRequest request,
               bool startingGroup);
  void groupReady(int rank, xdit::workers::ReadyMessage message);  // per rank
  void progress(xdit::workers::ProgressMessage message);           // each rank, each step
  void preview(QImage image, qint64 step);                         // rank 0, every few steps
  void metrics(xdit::workers::MetricsMessage message);             // each rank, end of a run
  void finished(xdit::ui::RunRecord record);                       // the whole run
  void failed(QString message);
  void cancelled();
  void busyChanged(bool busy);

 private:
  void setBusy(bool busy);

  QThread thread_;
  RunWorker* worker_;  // lives on thread_; deleted when it finishes
  bool busy_ = false;
  int preview_every_ = -1;
  qint64 run_ = 0;  // the number of the latest generation asked for
};

}  // namespace xdit::ui
