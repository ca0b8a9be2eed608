#pragma once
// xDiT Studio's window: the Configure form on the left, the preview / final
// image in the centre with the panels under it, a status bar with progress,
// and an error banner that never blocks (a failed run, a broken model, a
// full disk: the window says so and stays usable).
//
// Panels: other parts of the Studio (charts, history, timeline) add
// themselves with addPanel() from install_extras (ui/extras.hpp) and connect
// to runs()'s signals.

#include <QFutureWatcher>
#include <QMainWindow>
#include <memory>
#include <optional>
#include <vector>

#include "ui/image_files.hpp"
#include "ui/run_controller.hpp"

class QAction;
class QLabel;
class QProgressBar;
class QPushButton;
class QTabWidget;

namespace xdit::ui {

class GenerationForm;
class ImageView;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  // Window geometry and the last settings come from QSettings (the
  // application's organisation and name).
  explicit MainWindow(workers::LaunchOptions launch = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Adds `panel` as a tab named `title` under the image (the window takes
  // ownership). The tab area is shown once it has a panel.
  void addPanel(QWidget* panel, const QString& title);

  RunController& runs() { return *runs_; }
  GenerationForm& form() { return *form_; }
  ImageView& imageView() { return *image_view_; }
  QAction* generateAction() const { return generate_action_; }
  QAction* cancelAction() const { return cancel_action_; }
  // The text of the error banner; empty when none is shown.
  QString errorText() const;
  QString statusText() const;

  // Both return at once; the disk work runs in the background and its end
  // is shown (and signalled) on this thread.
  void openImage(const QString& path);
  void saveImage(const QString& path);

  // Starts a generation with the form's settings (what Generate does).
  // While the form is still checking just-changed settings, the generation
  // starts when the check passes (and is dropped if it fails).
  void generate();

 Q_SIGNALS:
  void imageOpened(bool ok);
  void imageSaved(bool ok);

 protected:
  void closeEvent(QCloseEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  struct Opened {
    ImageSettings settings;
    QImage image;
    QString error;
  };

  void buildMenus();
  void updateActions();
  void showError(const QString& message);
  void clearError();
  void onStarted(const workers::GroupSpec& spec, const pipelines::GenerationRequest& request,
                 bool startingGroup);
  void onProgress(const workers::ProgressMessage& message);
  void onPreview(const QImage& image, qint64 step);
  void onFinished(const RunRecord& record);
  void onFailed(const QString& message);
  void onCancelled();
  void askOpen();
  void askSave();
  void saveState() const;
  void restoreState();

  std::unique_ptr<RunController> runs_;
  GenerationForm* form_;
  ImageView* image_view_;
  QTabWidget* panels_;
  QLabel* error_banner_;
  QLabel* status_;
  QProgressBar* progress_bar_;
  QPushButton* generate_button_;
  QPushButton* cancel_button_;
  QAction* generate_action_;
  QAction* cancel_action_;
  QAction* save_action_;
  // The shown image and the settings that made it (for Save).
  std::optional<ImageSettings> image_settings_;
  // Rank 0's step times of the running generation, for s/step and ETA.
  std::vector<double> step_seconds_;
  bool generate_when_checked_ = false;
  QFutureWatcher<QString> saving_;
  QFutureWatcher<Opened> opening_;
};

}  // namespace xdit::ui
