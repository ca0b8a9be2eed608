#pragma once
// The RunController's half on its QThread: owns the workers::Launcher and
// drives it (wait_ready, generate, check), turning the launcher's callbacks
// into signals. Private to the controller; see ui/run_controller.hpp.

#include <sys/types.h>

#include <QImage>
#include <QObject>
#include <QString>
#include <QTimer>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "pipelines/generation.hpp"
#include "pipelines/latent_preview.hpp"
#include "ui/run_record.hpp"
#include "workers/control_protocol.hpp"
#include "workers/group_spec.hpp"
#include "workers/launcher.hpp"

namespace xdit::ui {

class RunWorker : public QObject {
  Q_OBJECT

 public:
  explicit RunWorker(workers::LaunchOptions options);
  ~RunWorker() override;

  // Any thread: stops generation `run` (the number given to run()) at once,
  // or whichever runs when `run` is negative. A run cancelled before it
  // starts ends as cancelled; one already ended is left alone.
  void cancel(int64_t run);
  // Any thread: the warm group's process ids, by rank.
  std::vector<pid_t> pids() const;

 public Q_SLOTS:
  // On the worker thread.
  void begin();  // starts the idle check timer
  void run(qint64 run, xdit::workers::GroupSpec spec, xdit::pipelines::GenerationRequest request,
           int preview_every);
  void stopGroup();

 Q_SIGNALS:
  void started(xdit::workers::GroupSpec spec, xdit::pipelines::GenerationRequest request,
               bool startingGroup);
  void groupReady(int rank, xdit::workers::ReadyMessage message);
  void progress(xdit::workers::ProgressMessage message);
  void preview(QImage image, qint64 step);
  void metrics(xdit::workers::MetricsMessage message);
  void finished(xdit::ui::RunRecord record);
  void failed(QString message);
  void cancelled();
  void done();  // after any of finished, failed, cancelled

 private:
  void checkGroup();
  // Starts a group for `spec` unless the warm one serves it; true if it did.
  bool ensureGroup(int64_t run, const workers::GroupSpec& spec, RunRecord& record);
  void resetLauncher();
  void throwIfCancelled(int64_t run) const;

  workers::LaunchOptions options_;
  mutable std::mutex mutex_;  // launcher_ and pids_ against cancel() and pids()
  std::unique_ptr<workers::Launcher> launcher_;
  std::vector<pid_t> pids_;
  int64_t current_run_ = -1;  // under mutex_
  std::atomic<int64_t> cancelled_run_{-1};
  workers::GroupSpec group_spec_;  // the warm group's, as the user gave it
  std::optional<pipelines::LatentPreview> preview_map_;
  QTimer* check_timer_ = nullptr;
};

}  // namespace xdit::ui
