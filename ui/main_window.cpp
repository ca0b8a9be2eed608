#include "ui/main_window.hpp"

#include <QAction>
#include <QCloseEvent>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QImageReader>
#include <QLabel>
#include <QMenuBar>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <exception>
#include <numeric>
#include <utility>

#include "ui/generation_form.hpp"
#include "ui/image_view.hpp"

namespace xdit::ui {
namespace {

QString size_text(const QImage& image) {
  return QString("%1 × %2").arg(image.width()).arg(image.height());
}

QString seconds_text(double seconds) {
  if (seconds < 60)
    return QString::number(seconds, 'f', seconds < 10 ? 1 : 0) + " s";
  return QString("%1 min %2 s")
      .arg(static_cast<int>(seconds) / 60)
      .arg(static_cast<int>(seconds) % 60);
}

}  // namespace

MainWindow::MainWindow(workers::LaunchOptions launch, QWidget* parent)
    : QMainWindow(parent), runs_(std::make_unique<RunController>(std::move(launch))) {
  setWindowTitle(tr("xDiT Studio"));
  setAcceptDrops(true);

  form_ = new GenerationForm;
  generate_button_ = new QPushButton(tr("Generate"));
  generate_button_->setObjectName("generateButton");
  generate_button_->setDefault(true);
  cancel_button_ = new QPushButton(tr("Cancel"));
  cancel_button_->setObjectName("cancelButton");
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(generate_button_, 1);
  buttons->addWidget(cancel_button_);
  auto* left = new QWidget;
  auto* left_layout = new QVBoxLayout(left);
  left_layout->setContentsMargins(0, 0, 0, 0);
  auto* scroll = new QScrollArea;
  scroll->setWidget(form_);
  scroll->setWidgetResizable(true);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  scroll->setMinimumWidth(form_->sizeHint().width() + 24);
  left_layout->addWidget(scroll, 1);
  left_layout->addLayout(buttons);

  error_banner_ = new QLabel;
  error_banner_->setObjectName("errorBanner");
  error_banner_->setWordWrap(true);
  error_banner_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_banner_->setStyleSheet(
      "background: #fde7e9; color: #8a0015; border: 1px solid #e8a0a8; padding: 6px;");
  error_banner_->hide();
  image_view_ = new ImageView;
  image_view_->clear(tr("Press Generate (Ctrl+Return)"));
  panels_ = new QTabWidget;
  panels_->setObjectName("panels");
  panels_->setDocumentMode(true);
  panels_->hide();
  auto* centre_split = new QSplitter(Qt::Vertical);
  centre_split->addWidget(image_view_);
  centre_split->addWidget(panels_);
  centre_split->setStretchFactor(0, 3);
  centre_split->setStretchFactor(1, 2);
  auto* centre = new QWidget;
  auto* centre_layout = new QVBoxLayout(centre);
  centre_layout->setContentsMargins(0, 0, 0, 0);
  centre_layout->addWidget(error_banner_);
  centre_layout->addWidget(centre_split, 1);

  auto* split = new QSplitter(Qt::Horizontal);
  split->setObjectName("mainSplitter");
  split->addWidget(left);
  split->addWidget(centre);
  split->setStretchFactor(1, 1);
  setCentralWidget(split);

  status_ = new QLabel(tr("Ready"));
  status_->setObjectName("status");
  progress_bar_ = new QProgressBar;
  progress_bar_->setMaximumWidth(240);
  progress_bar_->setTextVisible(true);
  progress_bar_->hide();
  statusBar()->addWidget(status_, 1);
  statusBar()->addPermanentWidget(progress_bar_);

  buildMenus();
  connect(generate_button_, &QPushButton::clicked, generate_action_, &QAction::trigger);
  connect(cancel_button_, &QPushButton::clicked, cancel_action_, &QAction::trigger);
  connect(form_, &GenerationForm::validityChanged, this, &MainWindow::updateActions);
  connect(form_, &GenerationForm::checked, this, [this](bool valid) {
    if (std::exchange(generate_when_checked_, false) && valid)
      generate();
  });
  connect(runs_.get(), &RunController::busyChanged, this, &MainWindow::updateActions);
  connect(runs_.get(), &RunController::started, this, &MainWindow::onStarted);
  connect(runs_.get(), &RunController::groupReady, this,
          [this](int rank, const workers::ReadyMessage& ready) {
            status_->setText(
                tr("Rank %1 loaded in %2").arg(rank).arg(seconds_text(ready.load_seconds)));
          });
  connect(runs_.get(), &RunController::progress, this, &MainWindow::onProgress);
  connect(runs_.get(), &RunController::preview, this, &MainWindow::onPreview);
  connect(runs_.get(), &RunController::finished, this, &MainWindow::onFinished);
  connect(runs_.get(), &RunController::failed, this, &MainWindow::onFailed);
  connect(runs_.get(), &RunController::cancelled, this, &MainWindow::onCancelled);
  connect(&saving_, &QFutureWatcher<QString>::finished, this, [this] {
    const QString error = saving_.result();
    if (error.isEmpty()) {
      status_->setText(tr("Saved"));
    } else {
      showError(tr("Could not save the image: %1").arg(error));
    }
    Q_EMIT imageSaved(error.isEmpty());
  });
  connect(&opening_, &QFutureWatcher<Opened>::finished, this, [this] {
    const Opened opened = opening_.result();
    if (!opened.error.isEmpty()) {
      showError(opened.error);
      Q_EMIT imageOpened(false);
      return;
    }
    clearError();
    form_->setSettings(opened.settings);
    image_settings_ = opened.settings;
    image_view_->showImage(opened.image, tr("Opened %1").arg(size_text(opened.image)));
    status_->setText(tr("Settings restored from the image"));
    updateActions();
    Q_EMIT imageOpened(true);
  });
  restoreState();
  updateActions();
}

MainWindow::~MainWindow() {
  saving_.waitForFinished();
  opening_.waitForFinished();
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* open = file->addAction(tr("&Open image…"), this, &MainWindow::askOpen);
  open->setShortcut(QKeySequence::Open);
  save_action_ = file->addAction(tr("&Save image…"), this, &MainWindow::askSave);
  save_action_->setShortcut(QKeySequence::Save);
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* run = menuBar()->addMenu(tr("&Generate"));
  generate_action_ = run->addAction(tr("&Generate"), this, &MainWindow::generate);
  generate_action_->setShortcuts(
      {QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)});
  cancel_action_ = run->addAction(tr("&Cancel"), runs_.get(), &RunController::cancel);
  cancel_action_->setShortcut(Qt::Key_Escape);
  // The shortcuts work wherever the focus is in the window.
  addAction(generate_action_);
  addAction(cancel_action_);
}

void MainWindow::addPanel(QWidget* panel, const QString& title) {
  panels_->addTab(panel, title);
  panels_->show();
}

QString MainWindow::errorText() const {
  return error_banner_->isHidden() ? QString() : error_banner_->text();
}

QString MainWindow::statusText() const {
  return status_->text();
}

void MainWindow::updateActions() {
  const bool busy = runs_->busy();
  generate_action_->setEnabled(form_->isValid() && !busy);
  generate_button_->setEnabled(generate_action_->isEnabled());
  cancel_action_->setEnabled(busy);
  cancel_button_->setEnabled(busy);
  save_action_->setEnabled(image_settings_.has_value() && !image_view_->image().isNull());
}

void MainWindow::showError(const QString& message) {
  error_banner_->setText(message);
  error_banner_->show();
  status_->setText(tr("Error"));
}

void MainWindow::clearError() {
  error_banner_->clear();
  error_banner_->hide();
}

void MainWindow::generate() {
  if (runs_->busy())
    return;
  if (form_->isChecking()) {
    generate_when_checked_ = true;
    return;
  }
  if (!form_->isValid())
    return;
  clearError();
  const ImageSettings settings = form_->settingsForRun();
  step_seconds_.clear();
  if (runs_->generate(settings.spec, settings.request)) {
    image_settings_.reset();
    updateActions();
  }
}

void MainWindow::onStarted(const workers::GroupSpec& spec,
                           const pipelines::GenerationRequest& request, bool startingGroup) {
  progress_bar_->setRange(0, static_cast<int>(request.num_inference_steps));
  progress_bar_->setValue(0);
  progress_bar_->show();
  status_->setText(startingGroup ? tr("Starting %1 worker%2 and loading the model…")
                                       .arg(spec.world_size)
                                       .arg(spec.world_size == 1 ? "" : "s")
                                 : tr("Generating on the warm group…"));
}

void MainWindow::onProgress(const workers::ProgressMessage& message) {
  if (message.rank != 0)
    return;
  step_seconds_.push_back(message.seconds);
  const double mean =
      std::accumulate(step_seconds_.begin(), step_seconds_.end(), 0.0) / step_seconds_.size();
  const double eta = mean * static_cast<double>(message.total - message.step);
  progress_bar_->setRange(0, static_cast<int>(message.total));
  progress_bar_->setValue(static_cast<int>(message.step));
  progress_bar_->setFormat(QString("%v / %m"));
  status_->setText(tr("Step %1 of %2 · %3 s/step · ETA %4")
                       .arg(message.step)
                       .arg(message.total)
                       .arg(mean, 0, 'f', 3)
                       .arg(seconds_text(eta)));
}

void MainWindow::onPreview(const QImage& image, qint64 step) {
  image_view_->showImage(image, tr("Preview at step %1").arg(step));
}

void MainWindow::onFinished(const RunRecord& record) {
  progress_bar_->hide();
  image_settings_ = ImageSettings{record.spec, record.request};
  image_view_->showImage(record.image, tr("%1, seed %2 · %3")
                                           .arg(size_text(record.image))
                                           .arg(record.request.seed)
                                           .arg(seconds_text(record.total_seconds)));
  status_->setText(tr("Done in %1 (%2 s/step)")
                       .arg(seconds_text(record.total_seconds))
                       .arg(seconds_per_step(record), 0, 'f', 3));
  updateActions();
}

void MainWindow::onFailed(const QString& message) {
  progress_bar_->hide();
  showError(message);
  updateActions();
}

void MainWindow::onCancelled() {
  progress_bar_->hide();
  status_->setText(tr("Cancelled"));
  updateActions();
}

void MainWindow::askOpen() {
  auto* dialog =
      new QFileDialog(this, tr("Open an image made by xDiT"), {}, tr("PNG images (*.png)"));
  dialog->setFileMode(QFileDialog::ExistingFile);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &QFileDialog::fileSelected, this, &MainWindow::openImage);
  dialog->open();
}

void MainWindow::askSave() {
  auto* dialog = new QFileDialog(this, tr("Save the image"), {}, tr("PNG images (*.png)"));
  dialog->setAcceptMode(QFileDialog::AcceptSave);
  dialog->setDefaultSuffix("png");
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &QFileDialog::fileSelected, this, &MainWindow::saveImage);
  dialog->open();
}

void MainWindow::saveImage(const QString& path) {
  if (!image_settings_ || image_view_->image().isNull() || saving_.isRunning()) {
    Q_EMIT imageSaved(false);
    return;
  }
  status_->setText(tr("Saving %1…").arg(path));
  saving_.setFuture(QtConcurrent::run(
      [path, image = image_view_->image(), settings = *image_settings_]() -> QString {
        try {
          save_image(path.toStdString(), image, settings);
          return {};
        } catch (const std::exception& e) {
          return QString::fromStdString(e.what());
        }
      }));
}

void MainWindow::openImage(const QString& path) {
  if (opening_.isRunning()) {
    Q_EMIT imageOpened(false);
    return;
  }
  status_->setText(tr("Opening %1…").arg(path));
  opening_.setFuture(QtConcurrent::run([path]() -> Opened {
    Opened opened;
    try {
      opened.settings = read_image_settings(path.toStdString());
      QImageReader reader(path);
      opened.image = reader.read();
      if (opened.image.isNull())
        opened.error = QObject::tr("%1: %2").arg(path, reader.errorString());
    } catch (const std::exception& e) {
      opened.error = QString::fromStdString(e.what());
    }
    return opened;
  }));
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  const auto urls = event->mimeData()->urls();
  if (urls.size() == 1 && urls.front().isLocalFile() &&
      urls.front().toLocalFile().endsWith(".png", Qt::CaseInsensitive)) {
    event->acceptProposedAction();
  }
}

void MainWindow::dropEvent(QDropEvent* event) {
  openImage(event->mimeData()->urls().front().toLocalFile());
  event->acceptProposedAction();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  saveState();
  runs_->cancel();
  QMainWindow::closeEvent(event);
}

void MainWindow::saveState() const {
  QSettings store;
  store.setValue("window/geometry", saveGeometry());
  store.setValue("window/state", QMainWindow::saveState());
  form_->saveState(store);
}

void MainWindow::restoreState() {
  QSettings store;
  restoreGeometry(store.value("window/geometry").toByteArray());
  QMainWindow::restoreState(store.value("window/state").toByteArray());
  form_->restoreState(store);
}

}  // namespace xdit::ui
