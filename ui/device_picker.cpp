#include "ui/device_picker.hpp"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>
#include <algorithm>

#include "core/device.hpp"

namespace xdit::ui {
namespace {

QComboBox* choice(const char* name, const QStringList& values, const QString& tip) {
  auto* box = new QComboBox;
  box->setObjectName(name);
  box->addItems(values);
  box->setToolTip(tip);
  return box;
}

void select(QComboBox* box, const std::string& value) {
  const int index = box->findText(QString::fromStdString(value));
  box->setCurrentIndex(std::max(index, 0));
}

}  // namespace

DevicePicker::DevicePicker(Devices devices, QWidget* parent)
    : QWidget(parent), devices_(std::move(devices)), summary_(new QLabel) {
  summary_->setObjectName("devices");
  summary_->setText(tr("Devices: %1").arg(QString::fromStdString(devices_.describe())));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(summary_);
  for (const GpuDescription& gpu : devices_.gpus) {
    auto* box = new QCheckBox(QString::fromStdString(gpu.describe()));
    box->setObjectName(QStringLiteral("gpu%1").arg(gpu.index));
    box->setChecked(true);
    box->setToolTip(tr("Run workers on this GPU (--gpus); rank r takes the r-th GPU chosen"));
    connect(box, &QCheckBox::toggled, this, &DevicePicker::changed);
    layout->addWidget(box);
    gpu_boxes_.push_back(box);
  }
  device_ = choice("device", {"auto", "cpu", "cuda"},
                   tr("--device: where the workers compute (auto: the GPUs when there are some)"));
  dtype_ = choice("dtype", {"auto", "float32", "bfloat16", "float16"},
                  tr("--dtype: the transformer's and text encoder's precision (auto: bfloat16 "
                     "on GPUs, float32 on CPUs)"));
  comm_ = choice("comm", {"auto", "nccl", "gloo"},
                 tr("--comm: how workers on GPUs talk (auto: NCCL, one GPU per worker; gloo: "
                    "through host memory, so that workers may share a GPU)"));
  auto* row = new QHBoxLayout;
  row->addWidget(device_);
  row->addWidget(dtype_);
  row->addWidget(comm_);
  row->addStretch(1);
  layout->addLayout(row);
  for (QComboBox* box : {device_, dtype_, comm_}) {
    connect(box, &QComboBox::currentIndexChanged, this, &DevicePicker::changed);
  }
  // Without a GPU only the CPU runs: the GPU settings would only mislead.
  comm_->setVisible(!devices_.gpus.empty());
}

void DevicePicker::apply(workers::GroupSpec& spec) const {
  spec.device = device_->currentText().toStdString();
  spec.dtype = dtype_->currentText().toStdString();
  spec.comm = comm_->currentText().toStdString();
  std::string chosen;
  bool all = true;
  for (size_t i = 0; i < gpu_boxes_.size(); ++i) {
    if (!gpu_boxes_[i]->isChecked()) {
      all = false;
      continue;
    }
    if (!chosen.empty())
      chosen += ',';
    chosen += std::to_string(devices_.gpus[i].index);
  }
  spec.gpus = all ? std::string() : chosen;
  if (!gpu_boxes_.empty() && chosen.empty())
    spec.device = "cpu";  // no GPU chosen: the CPU is what is left
}

void DevicePicker::show(const workers::GroupSpec& spec) {
  select(device_, spec.device);
  select(dtype_, spec.dtype);
  select(comm_, spec.comm);
  std::vector<int> chosen;
  try {
    if (!spec.gpus.empty())
      chosen = parse_gpu_list(spec.gpus);
  } catch (const std::exception&) {
    chosen.clear();  // a malformed list in an old file: every GPU
  }
  for (size_t i = 0; i < gpu_boxes_.size(); ++i) {
    const int index = devices_.gpus[i].index;
    gpu_boxes_[i]->setChecked(chosen.empty() ||
                              std::find(chosen.begin(), chosen.end(), index) != chosen.end());
  }
}

}  // namespace xdit::ui
