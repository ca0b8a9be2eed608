#pragma once
// The Configure panel: model, prompt, resolution, sampling and parallel
// degrees, with the devices found and the world size the degrees make. Every
// change is checked as the launcher will check it (in the background, since
// it reads the model's configs), an impossible combination is explained
// inline, and `validityChanged` tells the window when Generate may run.

#include <QFutureWatcher>
#include <QSettings>
#include <QWidget>
#include <optional>

#include "ui/image_files.hpp"
#include "ui/model_info.hpp"
#include "ui/settings_check.hpp"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QSpinBox;
class QTimer;

namespace xdit::ui {

class DevicePicker;

class GenerationForm : public QWidget {
  Q_OBJECT

 public:
  explicit GenerationForm(QWidget* parent = nullptr);
  ~GenerationForm() override;

  // The settings as the form shows them (world size: the degrees' product).
  ImageSettings settings() const;
  // The settings to run now: draws and shows a new seed when it is random.
  ImageSettings settingsForRun();
  // Shows `settings` (the model is inspected again; the seed becomes fixed).
  void setSettings(const ImageSettings& settings);

  // Starts inspecting `spec` (a built-in name or a folder) and selects it.
  void chooseModel(const QString& spec);
  // The inspected model; nullopt while it is being read.
  const std::optional<ModelInfo>& model() const { return model_; }

  // Generate may run: the model is usable and the settings pass the checks.
  bool isValid() const { return valid_; }
  // The model is being read or the latest settings are being checked;
  // `checked` follows.
  bool isChecking() const { return !model_ || completed_revision_ != revision_; }
  // Why not (or a warning when valid); empty when there is nothing to say.
  QString message() const;
  const Devices& devices() const { return devices_; }

  // Recent models and the last settings.
  void saveState(QSettings& store) const;
  void restoreState(QSettings& store);

 Q_SIGNALS:
  void validityChanged(bool valid);
  void checked(bool valid);  // the check of the current settings ended
  void modelChanged();       // a model was inspected (usable or not)

 private:
  void buildModelGroup(QFormLayout* layout);
  void buildImageGroup(QFormLayout* layout);
  void buildParallelGroup(QFormLayout* layout);
  void browseModel();
  void modelInspected();
  void fillResolutions();
  void scheduleCheck();
  void startCheck();
  void checkDone();
  void updateWorldSize();
  void setValid(bool valid, const QString& error, const QString& warning);
  void rememberModel(const QString& spec);
  parallel::ParallelConfig parallelConfig() const;

  Devices devices_;
  std::optional<ModelInfo> model_;
  QStringList recent_models_;
  bool valid_ = false;
  QString error_;
  QString warning_;
  // The guidance of settings being restored, until their model is read.
  std::optional<double> restored_guidance_;
  // setSettings gave a size, which the model being read must not replace.
  bool size_restored_ = false;
  int revision_ = 0;             // of the settings; a check of an older one is dropped
  int checked_revision_ = -1;    // being checked
  int completed_revision_ = -1;  // checked
  QTimer* check_timer_;
  QFutureWatcher<ModelInfo> inspection_;
  QFutureWatcher<SettingsCheck> check_;

  QComboBox* model_box_;
  QLabel* model_label_;
  QPlainTextEdit* prompt_;
  QLineEdit* negative_prompt_;
  QComboBox* resolution_;
  QSpinBox* height_;
  QSpinBox* width_;
  QCheckBox* binning_;
  QSpinBox* steps_;
  QDoubleSpinBox* guidance_;
  QSpinBox* seed_;
  QCheckBox* random_seed_;
  QCheckBox* cfg_;
  QSpinBox* data_;
  QSpinBox* ulysses_;
  QSpinBox* ring_;
  QSpinBox* distrifusion_;
  QSpinBox* tensor_;
  QSpinBox* pipefusion_;
  QSpinBox* patches_;
  QSpinBox* warmup_;
  QCheckBox* parallel_vae_;
  DevicePicker* device_picker_;
  QLabel* world_label_;
  QLabel* banner_;
};

}  // namespace xdit::ui
