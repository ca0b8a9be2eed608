#include "ui/generation_form.hpp"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRandomGenerator>
#include <QSpinBox>
#include <QTimer>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <climits>

#include "pipelines/builtin_models.hpp"
#include "ui/device_picker.hpp"

namespace xdit::ui {
namespace {

constexpr int kMaxRecentModels = 8;
constexpr int kMaxSide = 4096;
constexpr int kCheckDelayMs = 150;  // settles a burst of edits into one check

QSpinBox* degree_box(const QString& tooltip) {
  auto* box = new QSpinBox;
  box->setRange(1, 64);
  box->setToolTip(tooltip);
  return box;
}

QString resolution_text(int64_t height, int64_t width) {
  return QString("%1 × %2").arg(width).arg(height);
}

// The launcher's messages name the CLI's flags; the form names its fields.
QString studio_wording(const std::string& message) {
  static const std::pair<const char*, const char*> kFields[] = {
      {"--data_parallel_degree", "Data degree"},
      {"--use_cfg_parallel", "CFG parallel"},
      {"--ulysses_degree", "Ulysses degree"},
      {"--ring_degree", "Ring degree"},
      {"--tensor_parallel_degree", "Tensor degree"},
      {"--pipefusion_parallel_degree", "PipeFusion degree"},
      {"--num_pipeline_patch", "Patches"},
      {"--distrifusion_degree", "DistriFusion degree"},
      {"--warmup_steps", "Warm-up steps"},
      {"--guidance_scale", "Guidance"},
  };
  QString text = QString::fromStdString(message);
  for (const auto& [flag, field] : kFields)
    text.replace(flag, field);
  return text;
}

}  // namespace

GenerationForm::GenerationForm(QWidget* parent)
    : QWidget(parent), devices_(detect_devices()), check_timer_(new QTimer(this)) {
  auto* layout = new QVBoxLayout(this);
  auto* model_group = new QGroupBox(tr("Model"));
  auto* model_form = new QFormLayout(model_group);
  buildModelGroup(model_form);
  layout->addWidget(model_group);
  auto* image_group = new QGroupBox(tr("Image"));
  auto* image_form = new QFormLayout(image_group);
  buildImageGroup(image_form);
  layout->addWidget(image_group);
  auto* parallel_group = new QGroupBox(tr("Parallel"));
  auto* parallel_form = new QFormLayout(parallel_group);
  parallel_form->setFieldGrowthPolicy(QFormLayout::FieldsStayAtSizeHint);
  buildParallelGroup(parallel_form);
  layout->addWidget(parallel_group);

  banner_ = new QLabel;
  banner_->setObjectName("validationBanner");
  banner_->setWordWrap(true);
  banner_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(banner_);
  layout->addStretch(1);

  check_timer_->setSingleShot(true);
  check_timer_->setInterval(kCheckDelayMs);
  connect(check_timer_, &QTimer::timeout, this, &GenerationForm::startCheck);
  connect(&inspection_, &QFutureWatcher<ModelInfo>::finished, this,
          &GenerationForm::modelInspected);
  connect(&check_, &QFutureWatcher<SettingsCheck>::finished, this, &GenerationForm::checkDone);

  for (auto* box : {data_, ulysses_, ring_, tensor_, pipefusion_, patches_, warmup_, distrifusion_,
                    steps_, height_, width_, seed_}) {
    connect(box, &QSpinBox::valueChanged, this, &GenerationForm::scheduleCheck);
  }
  connect(guidance_, &QDoubleSpinBox::valueChanged, this, &GenerationForm::scheduleCheck);
  for (auto* box : {cfg_, parallel_vae_, binning_})
    connect(box, &QCheckBox::toggled, this, &GenerationForm::scheduleCheck);
  connect(prompt_, &QPlainTextEdit::textChanged, this, &GenerationForm::scheduleCheck);
  connect(device_picker_, &DevicePicker::changed, this, &GenerationForm::scheduleCheck);
  chooseModel(QString::fromStdString(pipelines::builtin_model_names().front()));
}

GenerationForm::~GenerationForm() {
  // The background reads hold no pointer to the form; only wait for them.
  inspection_.waitForFinished();
  check_.waitForFinished();
}

void GenerationForm::buildModelGroup(QFormLayout* form) {
  model_box_ = new QComboBox;
  model_box_->setObjectName("model");
  model_box_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  model_box_->setMinimumContentsLength(18);
  for (const auto& name : pipelines::builtin_model_names())
    model_box_->addItem(QString::fromStdString(name));
  auto* browse = new QPushButton(tr("Folder…"));
  browse->setToolTip(tr("Choose a diffusers pipeline folder (PixArt-α/Σ, SD3/SD3.5 or Flux.1)"));
  connect(browse, &QPushButton::clicked, this, &GenerationForm::browseModel);
  connect(model_box_, &QComboBox::activated, this,
          [this](int index) { chooseModel(model_box_->itemText(index)); });
  auto* row = new QHBoxLayout;
  row->addWidget(model_box_, 1);
  row->addWidget(browse);
  form->addRow(tr("Model"), row);
  model_label_ = new QLabel;
  model_label_->setObjectName("modelSummary");
  model_label_->setWordWrap(true);
  form->addRow(model_label_);
}

void GenerationForm::buildImageGroup(QFormLayout* form) {
  // A prompt the default model (builtin:scenes) can draw.
  prompt_ = new QPlainTextEdit(tr("a red circle on a blue background"));
  prompt_->setObjectName("prompt");
  prompt_->setTabChangesFocus(true);
  prompt_->setFixedHeight(prompt_->fontMetrics().lineSpacing() * 4);
  form->addRow(tr("Prompt"), prompt_);
  negative_prompt_ = new QLineEdit;
  negative_prompt_->setObjectName("negativePrompt");
  form->addRow(tr("Negative"), negative_prompt_);

  resolution_ = new QComboBox;
  resolution_->setObjectName("resolution");
  resolution_->setToolTip(tr("The model's trained aspect-ratio buckets, or a custom size"));
  form->addRow(tr("Resolution"), resolution_);
  height_ = new QSpinBox;
  width_ = new QSpinBox;
  for (auto* side : {height_, width_}) {
    side->setRange(16, kMaxSide);
    side->setSingleStep(16);
  }
  height_->setValue(512);  // until the model's own size is read
  width_->setValue(512);
  binning_ = new QCheckBox(tr("Bin"));
  binning_->setChecked(true);
  binning_->setToolTip(tr("Generate at the nearest trained aspect ratio, then resize and crop"));
  auto* sizes = new QHBoxLayout;
  sizes->addWidget(width_);
  sizes->addWidget(new QLabel("×"));
  sizes->addWidget(height_);
  sizes->addWidget(binning_);
  form->addRow(tr("Width × height"), sizes);
  connect(resolution_, &QComboBox::currentIndexChanged, this, [this] {
    const QSize bin = resolution_->currentData().toSize();
    const bool custom = bin.isEmpty();
    height_->setEnabled(custom);
    width_->setEnabled(custom);
    binning_->setEnabled(custom && model_ && !model_->bins.empty());
    if (!custom) {
      height_->setValue(bin.height());
      width_->setValue(bin.width());
    }
    scheduleCheck();
  });

  steps_ = new QSpinBox;
  steps_->setObjectName("steps");
  steps_->setRange(1, 1000);
  steps_->setValue(20);
  form->addRow(tr("Steps"), steps_);
  guidance_ = new QDoubleSpinBox;
  guidance_->setObjectName("guidance");
  guidance_->setRange(0, 30);
  guidance_->setSingleStep(0.5);
  guidance_->setValue(4.5);
  guidance_->setToolTip(tr("Classifier-free guidance scale; 1 or less turns guidance off"));
  form->addRow(tr("Guidance"), guidance_);
  seed_ = new QSpinBox;
  seed_->setObjectName("seed");
  seed_->setRange(0, INT_MAX);
  random_seed_ = new QCheckBox(tr("Random"));
  random_seed_->setToolTip(tr("Draw a new seed for every image (it is shown here)"));
  connect(random_seed_, &QCheckBox::toggled, seed_, &QSpinBox::setReadOnly);
  auto* seed_row = new QHBoxLayout;
  seed_row->addWidget(seed_, 1);
  seed_row->addWidget(random_seed_);
  form->addRow(tr("Seed"), seed_row);
}

void GenerationForm::buildParallelGroup(QFormLayout* form) {
  device_picker_ = new DevicePicker(devices_);
  form->addRow(device_picker_);
  cfg_ = new QCheckBox(tr("Two ranks for the guidance branches"));
  cfg_->setObjectName("cfg");
  cfg_->setToolTip("--use_cfg_parallel");
  form->addRow(tr("CFG parallel"), cfg_);
  data_ = degree_box("--data_parallel_degree: images of the batch split across ranks");
  data_->setObjectName("data");
  form->addRow(tr("Data"), data_);
  ulysses_ = degree_box("--ulysses_degree: sequence parallel, all-to-all over heads");
  ulysses_->setObjectName("ulysses");
  form->addRow(tr("Ulysses"), ulysses_);
  ring_ = degree_box("--ring_degree: sequence parallel, K/V blocks around a ring");
  ring_->setObjectName("ring");
  form->addRow(tr("Ring"), ring_);
  tensor_ = degree_box("--tensor_parallel_degree: heads and feed-forward split across ranks");
  tensor_->setObjectName("tensor");
  form->addRow(tr("Tensor"), tensor_);
  pipefusion_ = degree_box("--pipefusion_parallel_degree: layer stages");
  pipefusion_->setObjectName("pipefusion");
  patches_ = new QSpinBox;
  patches_->setRange(0, 64);
  patches_->setSpecialValueText(tr("auto"));
  patches_->setToolTip("--num_pipeline_patch (auto: one per stage)");
  warmup_ = new QSpinBox;
  warmup_->setRange(0, 100);
  warmup_->setValue(1);
  warmup_->setToolTip("--warmup_steps: synchronous steps before stale activations");
  auto* pipe_row = new QHBoxLayout;
  pipe_row->addWidget(pipefusion_);
  pipe_row->addWidget(new QLabel(tr("patches")));
  pipe_row->addWidget(patches_);
  pipe_row->addWidget(new QLabel(tr("warm-up")));
  pipe_row->addWidget(warmup_);
  form->addRow(tr("PipeFusion"), pipe_row);
  // Shares the warm-up steps with PipeFusion: both reuse stale activations.
  distrifusion_ = degree_box(
      "--distrifusion_degree: displaced patches, each rank a band with the whole model "
      "(warm-up as for PipeFusion)");
  distrifusion_->setObjectName("distrifusion");
  form->addRow(tr("DistriFusion"), distrifusion_);
  parallel_vae_ = new QCheckBox(tr("Decode in patches on every rank"));
  parallel_vae_->setToolTip("--use_parallel_vae");
  form->addRow(tr("Parallel VAE"), parallel_vae_);
  world_label_ = new QLabel;
  world_label_->setObjectName("worldSize");
  form->addRow(tr("World size"), world_label_);
  updateWorldSize();
}

parallel::ParallelConfig GenerationForm::parallelConfig() const {
  parallel::ParallelConfig p;
  p.cfg_degree = cfg_->isChecked() ? 2 : 1;
  p.data_degree = data_->value();
  p.ulysses_degree = ulysses_->value();
  p.ring_degree = ring_->value();
  p.tensor_degree = tensor_->value();
  p.pipefusion_degree = pipefusion_->value();
  if (patches_->value() > 0)
    p.num_pipeline_patch = patches_->value();
  p.warmup_steps = warmup_->value();
  p.distrifusion_degree = distrifusion_->value();
  p.use_parallel_vae = parallel_vae_->isChecked();
  return p;
}

ImageSettings GenerationForm::settings() const {
  ImageSettings s;
  s.spec.model = model_box_->currentText().toStdString();
  device_picker_->apply(s.spec);
  s.spec.parallel = parallelConfig();
  s.spec.world_size = static_cast<int>(s.spec.parallel.product());
  auto& r = s.request;
  r.prompts = {prompt_->toPlainText().toStdString()};
  r.negative_prompt = negative_prompt_->text().toStdString();
  r.height = height_->value();
  r.width = width_->value();
  r.use_resolution_binning = !height_->isEnabled() || binning_->isChecked();
  r.num_inference_steps = steps_->value();
  // The family's unused controls send nothing (the model's default).
  const bool guided = !model_ || model_->guidance;
  r.guidance_scale = guided ? std::optional<double>(guidance_->value()) : std::nullopt;
  if (model_ && !model_->negative_prompt)
    r.negative_prompt.clear();
  r.seed = static_cast<uint64_t>(seed_->value());
  return s;
}

ImageSettings GenerationForm::settingsForRun() {
  if (random_seed_->isChecked()) {
    const QSignalBlocker quiet(seed_);  // a new seed changes nothing to check
    seed_->setValue(static_cast<int>(QRandomGenerator::global()->bounded(INT_MAX)));
  }
  return settings();
}

void GenerationForm::setSettings(const ImageSettings& s) {
  const auto& r = s.request;
  const auto& p = s.spec.parallel;
  prompt_->setPlainText(r.prompts.empty() ? QString() : QString::fromStdString(r.prompts.front()));
  negative_prompt_->setText(QString::fromStdString(r.negative_prompt));
  steps_->setValue(static_cast<int>(r.num_inference_steps));
  // Applied once the model is read, which otherwise sets its own default.
  restored_guidance_ = r.guidance_scale;
  random_seed_->setChecked(false);
  seed_->setValue(static_cast<int>(std::min<uint64_t>(r.seed, INT_MAX)));
  cfg_->setChecked(p.cfg_degree == 2);
  data_->setValue(p.data_degree);
  ulysses_->setValue(p.ulysses_degree);
  ring_->setValue(p.ring_degree);
  tensor_->setValue(p.tensor_degree);
  pipefusion_->setValue(p.pipefusion_degree);
  patches_->setValue(p.num_pipeline_patch.value_or(0));
  warmup_->setValue(p.warmup_steps);
  distrifusion_->setValue(p.distrifusion_degree);
  parallel_vae_->setChecked(p.use_parallel_vae);
  device_picker_->show(s.spec);
  // The size goes in as custom; fillResolutions selects its bucket, if any.
  resolution_->setCurrentIndex(resolution_->count() - 1);
  size_restored_ = r.height > 0 || r.width > 0;
  if (r.height > 0)
    height_->setValue(static_cast<int>(r.height));
  if (r.width > 0)
    width_->setValue(static_cast<int>(r.width));
  binning_->setChecked(r.use_resolution_binning);
  fillResolutions();
  chooseModel(QString::fromStdString(s.spec.model));
}

void GenerationForm::browseModel() {
  // Non-blocking for tests and scripts: the dialog is shown, its answer
  // arrives as a signal.
  auto* dialog = new QFileDialog(this, tr("Choose a diffusers pipeline folder"));
  dialog->setFileMode(QFileDialog::Directory);
  dialog->setOption(QFileDialog::ShowDirsOnly);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &QFileDialog::fileSelected, this, &GenerationForm::chooseModel);
  dialog->open();
}

void GenerationForm::chooseModel(const QString& spec) {
  int index = model_box_->findText(spec);
  if (index < 0) {
    model_box_->addItem(spec);
    index = model_box_->count() - 1;
  }
  model_box_->setCurrentIndex(index);
  model_.reset();
  model_label_->setText(tr("Reading %1…").arg(spec));
  ++revision_;
  setValid(false, tr("Reading the model…"), {});
  inspection_.setFuture(QtConcurrent::run(inspect_model, spec.toStdString()));
}

void GenerationForm::modelInspected() {
  ModelInfo info = inspection_.result();
  if (QString::fromStdString(info.spec) != model_box_->currentText())
    return;  // another model was chosen meanwhile
  model_ = std::move(info);
  if (model_->usable()) {
    model_label_->setText(QString::fromStdString(model_->summary));
    model_label_->setStyleSheet({});
    rememberModel(QString::fromStdString(model_->spec));
    for (auto* side : {height_, width_})
      side->setSingleStep(static_cast<int>(model_->size_multiple));
    // Only the controls the family reads: Flux has no negative prompt, and
    // schnell no guidance scale at all.
    negative_prompt_->setEnabled(model_->negative_prompt);
    guidance_->setEnabled(model_->guidance);
    guidance_->setValue(restored_guidance_.value_or(model_->default_guidance));
    restored_guidance_.reset();
    // A model chosen, not restored with a size, starts at its own size
    // (builtin:scenes: 64 px; PixArt-XL: 1024).
    if (!size_restored_ && model_->default_side > 0) {
      height_->setValue(static_cast<int>(model_->default_side));
      width_->setValue(static_cast<int>(model_->default_side));
    }
    size_restored_ = false;
  } else {
    QStringList problems;
    for (const auto& problem : model_->problems)
      problems << QString::fromStdString(problem);
    model_label_->setText(tr("Cannot use this model:\n• %1").arg(problems.join("\n• ")));
    model_label_->setStyleSheet("color: #b00020;");
  }
  fillResolutions();
  Q_EMIT modelChanged();
  scheduleCheck();
}

void GenerationForm::fillResolutions() {
  const QSignalBlocker quiet(resolution_);
  const bool was_custom =
      resolution_->count() == 0 || resolution_->currentData().toSize().isEmpty();
  const QSize size(width_->value(), height_->value());
  resolution_->clear();
  int selected = -1;
  if (model_) {
    for (const auto& bin : model_->bins) {
      const bool same = bin.height == size.height() && bin.width == size.width();
      if (same && (binning_->isChecked() || !was_custom))
        selected = resolution_->count();
      resolution_->addItem(resolution_text(bin.height, bin.width),
                           QSize(static_cast<int>(bin.width), static_cast<int>(bin.height)));
    }
  }
  resolution_->addItem(tr("Custom"), QSize());
  if (selected < 0)
    selected = resolution_->count() - 1;
  resolution_->setCurrentIndex(selected);
  const bool custom = selected == resolution_->count() - 1;
  height_->setEnabled(custom);
  width_->setEnabled(custom);
  // Only PixArt has trained aspect ratios to snap to.
  binning_->setEnabled(custom && model_ && !model_->bins.empty());
}

void GenerationForm::scheduleCheck() {
  ++revision_;
  updateWorldSize();
  if (model_)
    setValid(false, error_, warning_);  // until the check of this revision ends
  check_timer_->start();
}

void GenerationForm::startCheck() {
  if (!model_)
    return;  // the inspection's end schedules one
  if (check_.isRunning()) {
    check_timer_->start();  // one check at a time; this one follows
    return;
  }
  const int revision = revision_;
  const ModelInfo model = *model_;
  const ImageSettings s = settings();
  const Devices devices = devices_;
  checked_revision_ = revision;
  check_.setFuture(QtConcurrent::run(
      [model, s, devices] { return check_settings(model, s.spec, s.request, devices); }));
}

void GenerationForm::checkDone() {
  if (checked_revision_ != revision_)
    return;  // the settings changed meanwhile; a newer check is scheduled
  const SettingsCheck result = check_.result();
  completed_revision_ = revision_;
  setValid(result.ok(), studio_wording(result.error), studio_wording(result.warning));
  Q_EMIT checked(result.ok());
}

void GenerationForm::updateWorldSize() {
  const long long world = parallelConfig().product();
  world_label_->setText(tr("%1 worker%2 on %3")
                            .arg(world)
                            .arg(world == 1 ? "" : "s")
                            .arg(QString::fromStdString(devices_.describe())));
}

void GenerationForm::setValid(bool valid, const QString& error, const QString& warning) {
  error_ = error;
  warning_ = warning;
  if (!error.isEmpty()) {
    banner_->setText(error);
    banner_->setStyleSheet("color: #b00020;");
  } else {
    banner_->setText(warning);
    banner_->setStyleSheet("color: #8a5a00;");
  }
  if (valid_ != valid) {
    valid_ = valid;
    Q_EMIT validityChanged(valid);
  }
}

QString GenerationForm::message() const {
  return error_.isEmpty() ? warning_ : error_;
}

void GenerationForm::rememberModel(const QString& spec) {
  if (pipelines::is_builtin_model(spec.toStdString()))
    return;
  recent_models_.removeAll(spec);
  recent_models_.prepend(spec);
  while (recent_models_.size() > kMaxRecentModels)
    recent_models_.removeLast();
}

void GenerationForm::saveState(QSettings& store) const {
  store.setValue("models/recent", recent_models_);
  store.setValue("form/settings", QString::fromStdString(nlohmann::json{
                                      {"request", pipelines::to_json(settings().request)},
                                      {"group", workers::to_json(settings().spec)}}
                                                             .dump()));
  store.setValue("form/randomSeed", random_seed_->isChecked());
}

void GenerationForm::restoreState(QSettings& store) {
  recent_models_ = store.value("models/recent").toStringList();
  for (const auto& spec : recent_models_) {
    if (model_box_->findText(spec) < 0)
      model_box_->addItem(spec);
  }
  const QString saved = store.value("form/settings").toString();
  if (!saved.isEmpty()) {
    try {
      const auto json = nlohmann::json::parse(saved.toStdString());
      ImageSettings s;
      s.request = pipelines::request_from_json(json.at("request"), "saved settings");
      s.spec = workers::group_spec_from_json(json.at("group"), "saved settings");
      setSettings(s);
    } catch (const std::exception&) {
      // Settings of another version: start from the defaults.
    }
  }
  random_seed_->setChecked(store.value("form/randomSeed", false).toBool());
}

}  // namespace xdit::ui
