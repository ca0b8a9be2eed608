#pragma once
// The Devices rows of the Configure panel: the GPUs found (name, memory),
// each with a box to run on it or not (--gpus), and where and how the ranks
// compute: device (auto, cpu, cuda), precision (--dtype) and how ranks on
// GPUs talk (--comm). Without GPUs only the CPU cores are named.

#include <QWidget>
#include <vector>

#include "ui/settings_check.hpp"
#include "workers/group_spec.hpp"

class QCheckBox;
class QComboBox;
class QLabel;

namespace xdit::ui {

class DevicePicker : public QWidget {
  Q_OBJECT

 public:
  explicit DevicePicker(Devices devices, QWidget* parent = nullptr);

  const Devices& devices() const { return devices_; }
  // Writes device, dtype, comm and gpus (empty when every GPU is chosen;
  // with none chosen the device becomes cpu).
  void apply(workers::GroupSpec& spec) const;
  // Shows what `spec` asks for; GPUs this machine lacks are left out.
  void show(const workers::GroupSpec& spec);

 Q_SIGNALS:
  void changed();

 private:
  Devices devices_;
  QLabel* summary_;
  std::vector<QCheckBox*> gpu_boxes_;  // by position in devices_.gpus
  QComboBox* device_;
  QComboBox* dtype_;
  QComboBox* comm_;
};

}  // namespace xdit::ui
