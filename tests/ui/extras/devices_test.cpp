// The Studio on machines with GPUs, which CI has not: the devices are given
// to the widgets as a machine with three GPUs would report them.

#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QtTest/QtTest>

#include "extras_tests.hpp"
#include "pipelines/builtin_models.hpp"
#include "ui/charts/charts_panel.hpp"
#include "ui/charts/rank_series_chart.hpp"
#include "ui/device_picker.hpp"
#include "ui/settings_check.hpp"

namespace xdit::ui::testing {
namespace {

Devices three_gpus() {
  Devices devices;
  devices.cpu_cores = 16;
  for (int i = 0; i < 3; ++i)
    devices.gpus.push_back({i, "NVIDIA H200", int64_t{150'000'000'000}});
  return devices;
}

QCheckBox* gpu_box(DevicePicker& picker, int index) {
  return picker.findChild<QCheckBox*>(QStringLiteral("gpu%1").arg(index));
}

}  // namespace

void DevicesTest::pickerListsGpusAndChoosesThem() {
  DevicePicker picker(three_gpus());
  QVERIFY(picker.findChild<QLabel*>("devices")->text().contains("3 GPUs"));
  QCheckBox* second = gpu_box(picker, 1);
  QVERIFY(second != nullptr);
  QCOMPARE(second->text(), QStringLiteral("cuda:1 NVIDIA H200, 150 GB"));

  workers::GroupSpec spec;
  picker.apply(spec);
  QCOMPARE(spec.gpus, std::string());  // all of them: as the process sees them
  QSignalSpy changed(&picker, &DevicePicker::changed);
  second->setChecked(false);
  QCOMPARE(changed.count(), 1);
  picker.apply(spec);
  QCOMPARE(spec.gpus, std::string("0,2"));
  QCOMPARE(spec.device, std::string("auto"));

  picker.findChild<QComboBox*>("dtype")->setCurrentText("float16");
  picker.findChild<QComboBox*>("comm")->setCurrentText("gloo");
  gpu_box(picker, 0)->setChecked(false);
  gpu_box(picker, 2)->setChecked(false);
  picker.apply(spec);
  QCOMPARE(spec.device, std::string("cpu"));  // no GPU chosen
  QCOMPARE(spec.dtype, std::string("float16"));
  QCOMPARE(spec.comm, std::string("gloo"));

  // Without GPUs: the cores, and no GPU settings.
  Devices cpu_only;
  cpu_only.cpu_cores = 2;
  DevicePicker plain(cpu_only);
  QVERIFY(plain.findChild<QLabel*>("devices")->text().contains("2 CPU cores"));
  QVERIFY(plain.findChildren<QCheckBox*>().isEmpty());
  workers::GroupSpec untouched;
  plain.apply(untouched);
  QCOMPARE(untouched.device, std::string("auto"));
  QCOMPARE(untouched.gpus, std::string());
}

void DevicesTest::pickerShowsASpec() {
  DevicePicker picker(three_gpus());
  workers::GroupSpec spec;
  spec.device = "cuda";
  spec.dtype = "bfloat16";
  spec.comm = "nccl";
  spec.gpus = "2,0";
  picker.show(spec);
  QVERIFY(gpu_box(picker, 0)->isChecked());
  QVERIFY(!gpu_box(picker, 1)->isChecked());
  QVERIFY(gpu_box(picker, 2)->isChecked());
  workers::GroupSpec back;
  picker.apply(back);
  QCOMPARE(back.device, std::string("cuda"));
  QCOMPARE(back.dtype, std::string("bfloat16"));
  QCOMPARE(back.comm, std::string("nccl"));
  QCOMPARE(back.gpus, std::string("0,2"));
}

void DevicesTest::moreRanksThanChosenGpusNeedGloo() {
  const ModelInfo model = inspect_model(pipelines::builtin_model_names().front());
  QVERIFY(model.usable());
  pipelines::GenerationRequest request;
  request.prompts = {"a lighthouse"};
  // Two Ulysses ranks on the GPUs named, talking as `comm` says.
  const auto check = [&](std::string device, std::string gpus, std::string comm) {
    workers::GroupSpec spec;
    spec.parallel.ulysses_degree = 2;
    spec.world_size = 2;
    spec.device = std::move(device);
    spec.gpus = std::move(gpus);
    spec.comm = std::move(comm);
    return check_settings(model, spec, request, three_gpus());
  };
  SettingsCheck one_gpu = check("auto", "1", "auto");
  QVERIFY2(one_gpu.error.find("--comm gloo") != std::string::npos, one_gpu.error.c_str());
  QVERIFY2(one_gpu.error.find("1 GPU is chosen") != std::string::npos, one_gpu.error.c_str());
  SettingsCheck shared = check("auto", "1", "gloo");  // they share it
  QVERIFY2(shared.ok(), shared.error.c_str());
  QVERIFY(shared.warning.find("share 1 GPU") != std::string::npos);
  SettingsCheck two_gpus = check("auto", "0,1", "auto");
  QVERIFY2(two_gpus.ok() && two_gpus.warning.empty(), (two_gpus.error + two_gpus.warning).c_str());
  // The CPU's 16 cores, whatever the GPUs.
  QVERIFY(check("cpu", "1", "auto").ok());
  QVERIFY(check("auto", "0,x", "auto").error.find("--gpus") != std::string::npos);
}

void DevicesTest::memoryChartShowsGpuMemoryByDevice() {
  ChartsPanel panel;
  panel.reset(2);
  for (int rank = 0; rank < 2; ++rank) {
    workers::ProgressMessage p;
    p.rank = rank;
    p.step = 1;
    p.total = 2;
    p.seconds = 0.1;
    workers::GpuSample gpu;
    gpu.index = rank;
    gpu.name = "NVIDIA H200";
    gpu.allocated_bytes = int64_t{300} << 20;
    gpu.peak_allocated_bytes = int64_t{500 + rank} << 20;
    p.memory = {int64_t{4} << 30, int64_t{5} << 30, gpu};
    panel.addProgress(p);
  }
  RankSeriesChart* memory = panel.memoryChart();
  QCOMPARE(memory->yAxis->label(), QStringLiteral("GPU memory (MiB)"));
  QCOMPARE(memory->series(1, 0)->data()->at(0)->value, 300.0);
  QCOMPARE(memory->series(1, 1)->data()->at(0)->value, 501.0);
  QCOMPARE(memory->series(1, 1)->name(), QStringLiteral("rank 1 on cuda:1 (NVIDIA H200) peak"));
  // A CPU run after it: resident memory again, ranks unnamed by device.
  panel.reset(1);
  QCOMPARE(memory->yAxis->label(), QStringLiteral("resident memory (MiB)"));
  QCOMPARE(memory->series(0, 0)->name(), QStringLiteral("rank 0 current"));
}

}  // namespace xdit::ui::testing
