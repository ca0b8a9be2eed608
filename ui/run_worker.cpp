#include "ui/run_worker.hpp"

#include <QDateTime>
#include <QElapsedTimer>
#include <exception>
#include <utility>

#include "io/model_folder.hpp"
#include "ui/image_convert.hpp"
#include "workers/worker_error.hpp"

namespace xdit::ui {
namespace {

// A warm group idles unwatched; this often it is asked whether a worker died.
constexpr int kCheckIntervalMs = 1000;

bool same_group(const workers::GroupSpec& a, const workers::GroupSpec& b) {
  return workers::to_json(a) == workers::to_json(b);
}

}  // namespace

RunWorker::RunWorker(workers::LaunchOptions options) : options_(std::move(options)) {}

RunWorker::~RunWorker() {
  resetLauncher();
}

void RunWorker::cancel(int64_t run) {
  const std::lock_guard lock(mutex_);
  if (run < 0)
    run = current_run_;
  cancelled_run_ = run;
  if (launcher_ && run >= 0 && run == current_run_)
    launcher_->cancel();
}

std::vector<pid_t> RunWorker::pids() const {
  const std::lock_guard lock(mutex_);
  return pids_;
}

void RunWorker::begin() {
  check_timer_ = new QTimer(this);
  check_timer_->setInterval(kCheckIntervalMs);
  connect(check_timer_, &QTimer::timeout, this, &RunWorker::checkGroup);
  check_timer_->start();
}

void RunWorker::resetLauncher() {
  std::unique_ptr<workers::Launcher> launcher;
  {
    const std::lock_guard lock(mutex_);
    launcher = std::move(launcher_);
    pids_.clear();
  }
  // The destructor stops and reaps the workers, outside the lock so that a
  // cancel() meanwhile does not wait for it.
  launcher.reset();
  preview_map_.reset();
}

void RunWorker::throwIfCancelled(int64_t run) const {
  if (cancelled_run_ == run)
    throw workers::GroupCancelled("cancelled before the group was ready");
}

bool RunWorker::ensureGroup(int64_t run, const workers::GroupSpec& spec, RunRecord& record) {
  if (launcher_ && launcher_->running() && same_group(spec, group_spec_))
    return false;
  resetLauncher();
  Q_EMIT started(spec, record.request, true);
  auto launcher = std::make_unique<workers::Launcher>(spec, options_);
  {
    const std::lock_guard lock(mutex_);
    launcher_ = std::move(launcher);
    pids_ = launcher_->pids();
  }
  group_spec_ = spec;
  throwIfCancelled(run);
  // Fitted while the workers load their weights.
  preview_map_ =
      pipelines::latent_preview_for(io::ModelFolder(launcher_->spec().model, spec.variant));
  workers::GroupCallbacks callbacks;
  callbacks.on_ready = [&](const workers::ReadyMessage& ready) {
    record.ready.push_back(ready);
    Q_EMIT groupReady(ready.rank, ready);
  };
  launcher_->wait_ready(callbacks);
  return true;
}

void RunWorker::run(qint64 run, workers::GroupSpec spec, pipelines::GenerationRequest request,
                    int preview_every) {
  {
    const std::lock_guard lock(mutex_);
    current_run_ = run;
  }
  RunRecord record;
  record.started = QDateTime::currentDateTime();
  record.id = new_run_id(record.started);
  record.spec = spec;
  record.request = request;
  QElapsedTimer clock;
  clock.start();
  try {
    throwIfCancelled(run);
    if (!ensureGroup(run, spec, record))
      Q_EMIT started(spec, request, false);
    workers::GroupCallbacks callbacks;
    callbacks.on_progress = [&](const workers::ProgressMessage& step) {
      record.progress.push_back(step);
      Q_EMIT progress(step);
    };
    callbacks.on_preview = [&](const workers::PreviewMessage& message) {
      if (preview_map_ && message.latents.defined() && message.latents.size(0) > 0)
        Q_EMIT preview(to_qimage(preview_map_->project(message.latents)[0]), message.step);
    };
    callbacks.on_metrics = [&](const workers::MetricsMessage& message) { Q_EMIT metrics(message); };
    const auto out = launcher_->generate(request, callbacks, preview_every);
    record.metrics = out.metrics;
    if (out.result.images.defined() && out.result.images.size(0) > 0)
      record.image = to_qimage(out.result.images[0]);
    record.total_seconds = static_cast<double>(clock.elapsed()) / 1000;
    Q_EMIT finished(record);
  } catch (const workers::GroupCancelled&) {
    resetLauncher();
    Q_EMIT cancelled();
  } catch (const std::exception& e) {
    // A refused request leaves the group up; a failed group is gone.
    if (launcher_ && !launcher_->running())
      resetLauncher();
    Q_EMIT failed(QString::fromStdString(e.what()));
  }
  {
    const std::lock_guard lock(mutex_);
    current_run_ = -1;
  }
  Q_EMIT done();
}

void RunWorker::stopGroup() {
  resetLauncher();
}

void RunWorker::checkGroup() {
  if (!launcher_ || !launcher_->running())
    return;
  try {
    launcher_->check();
  } catch (const std::exception& e) {
    resetLauncher();
    Q_EMIT failed(
        QString("The idle worker group stopped: %1").arg(QString::fromStdString(e.what())));
  }
}

}  // namespace xdit::ui
