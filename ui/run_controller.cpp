#include "ui/run_controller.hpp"

#include <algorithm>
#include <utility>

#include "ui/run_worker.hpp"

namespace xdit::ui {
namespace {

void register_metatypes() {
  qRegisterMetaType<workers::GroupSpec>();
  qRegisterMetaType<pipelines::GenerationRequest>();
  qRegisterMetaType<workers::ReadyMessage>();
  qRegisterMetaType<workers::ProgressMessage>();
  qRegisterMetaType<workers::MetricsMessage>();
  qRegisterMetaType<RunRecord>();
}

// About ten previews per image, at least one step apart.
int automatic_preview_every(int64_t steps) {
  return static_cast<int>(std::max<int64_t>(1, steps / 10));
}

}  // namespace

RunController::RunController(workers::LaunchOptions options, QObject* parent)
    : QObject(parent), worker_(new RunWorker(std::move(options))) {
  register_metatypes();
  thread_.setObjectName("xdit-run");
  worker_->moveToThread(&thread_);
  // The worker (and with it the launcher and its processes) goes when the
  // thread ends, on that thread.
  connect(&thread_, &QThread::started, worker_, &RunWorker::begin);
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
  // Signal to signal, queued: every signal reaches receivers on this thread.
  connect(worker_, &RunWorker::started, this, &RunController::started);
  connect(worker_, &RunWorker::groupReady, this, &RunController::groupReady);
  connect(worker_, &RunWorker::progress, this, &RunController::progress);
  connect(worker_, &RunWorker::preview, this, &RunController::preview);
  connect(worker_, &RunWorker::metrics, this, &RunController::metrics);
  connect(worker_, &RunWorker::finished, this, &RunController::finished);
  connect(worker_, &RunWorker::failed, this, &RunController::failed);
  connect(worker_, &RunWorker::cancelled, this, &RunController::cancelled);
  connect(worker_, &RunWorker::done, this, [this] { setBusy(false); });
  thread_.start();
}

RunController::~RunController() {
  worker_->cancel(-1);
  thread_.quit();
  thread_.wait();
}

bool RunController::generate(const workers::GroupSpec& spec,
                             const pipelines::GenerationRequest& request) {
  if (busy_)
    return false;
  setBusy(true);
  const int every =
      preview_every_ >= 0 ? preview_every_ : automatic_preview_every(request.num_inference_steps);
  const qint64 run = ++run_;
  QMetaObject::invokeMethod(
      worker_,
      [worker = worker_, run, spec, request, every] { worker->run(run, spec, request, every); },
      Qt::QueuedConnection);
  return true;
}

void RunController::cancel() {
  if (busy_)
    worker_->cancel(run_);
}

void RunController::stopGroup() {
  QMetaObject::invokeMethod(worker_, &RunWorker::stopGroup, Qt::QueuedConnection);
}

std::vector<pid_t> RunController::workerPids() const {
  return worker_->pids();
}

void RunController::setPreviewEvery(int steps) {
  preview_every_ = steps;
}

void RunController::setBusy(bool busy) {
  if (busy_ == busy)
    return;
  busy_ = busy;
  Q_EMIT busyChanged(busy);
}

}  // namespace xdit::ui
