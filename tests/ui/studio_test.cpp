// xDiT Studio end to end, offscreen, on real xdit-worker processes: the form's
// checks, a 2-worker generation with previews and progress, a warm second
// run, cancel, a worker killed mid-run, errors shown in the window, and
// settings round-tripping through a PNG.

#include <sys/types.h>

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QLineEdit>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest/QtTest>
#include <cerrno>
#include <cmath>
#include <csignal>

#include "ui/explore/explore_panel.hpp"
#include "ui/explore/plan_chart.hpp"
#include "ui/generation_form.hpp"
#include "ui/image_files.hpp"
#include "ui/image_view.hpp"
#include "ui/main_window.hpp"
#include "workers/group_spec.hpp"

using xdit::ui::ImageSettings;
using xdit::ui::MainWindow;
using xdit::ui::RunController;

namespace {

// Loading the built-in model (written on first use) and 2 workers.
constexpr int kStartMs = 120000;

bool process_gone(pid_t pid) {
  return ::kill(pid, 0) == -1 && errno == ESRCH;
}

// 2 workers (ulysses 2) on the built-in model, small and fast.
ImageSettings small_settings(int steps, int side = 128) {
  ImageSettings s;
  s.spec.model = "builtin:tiny-pixart";
  s.spec.parallel.ulysses_degree = 2;
  s.spec.world_size = 2;
  s.request.prompts = {"a small red house"};
  s.request.negative_prompt = "blurry";
  s.request.height = side;
  s.request.width = side;
  s.request.use_resolution_binning = false;
  s.request.num_inference_steps = steps;
  s.request.guidance_scale = 4.5;
  s.request.seed = 7;
  return s;
}

bool wait_valid(MainWindow& window) {
  return QTest::qWaitFor([&] { return window.generateAction()->isEnabled(); }, kStartMs);
}

}  // namespace

class StudioTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName("xdit-tests");
    QApplication::setApplicationName("xDiT Studio tests");
    QSettings().clear();
    QVERIFY2(!qEnvironmentVariableIsEmpty("XDIT_WORKER"), "set XDIT_WORKER (CTest does)");
  }

  void invalidMeshDisablesGenerate() {
    MainWindow window;
    window.form().setSettings(small_settings(2));
    QVERIFY(wait_valid(window));
    auto* ulysses = window.form().findChild<QSpinBox*>("ulysses");
    QVERIFY(ulysses);
    ulysses->setValue(3);  // divides neither the heads nor the tokens
    QVERIFY(QTest::qWaitFor([&] { return window.form().message().contains("ulysses"); }, 20000));
    QVERIFY(!window.generateAction()->isEnabled());
    QVERIFY2(window.form().message().contains("Ulysses degree"),
             qPrintable(window.form().message()));
    ulysses->setValue(2);
    QVERIFY(wait_valid(window));
    QVERIFY(window.form().message().isEmpty());
  }

  void distriFusionCombinesOnlyWithCfgAndData() {
    MainWindow window;
    window.form().setSettings(small_settings(2));
    QVERIFY(wait_valid(window));
    auto* distrifusion = window.form().findChild<QSpinBox*>("distrifusion");
    QVERIFY(distrifusion);
    distrifusion->setValue(2);  // on top of ulysses 2: refused, with the field to change
    QVERIFY(QTest::qWaitFor(
        [&] { return window.form().message().contains("combines only with cfg and data"); },
        20000));
    QVERIFY(!window.generateAction()->isEnabled());
    QVERIFY2(window.form().message().contains("Ulysses degree"),
             qPrintable(window.form().message()));
    window.form().findChild<QSpinBox*>("ulysses")->setValue(1);
    QVERIFY(wait_valid(window));
  }

  void brokenModelFolderIsExplained() {
    QTemporaryDir dir;
    MainWindow window;
    window.form().chooseModel(dir.path());
    QVERIFY(QTest::qWaitFor([&] { return window.form().model().has_value(); }, 20000));
    QVERIFY(!window.form().model()->usable());
    QVERIFY(
        QTest::qWaitFor([&] { return window.form().message().contains("cannot be used"); }, 20000));
    QVERIFY(!window.generateAction()->isEnabled());
    QVERIFY2(window.form().message().contains("model_index.json"),
             qPrintable(window.form().message()));
  }

  void mmditModelsShowTheirControlsAndGenerate() {
    MainWindow window;
    ImageSettings flux = small_settings(2);
    flux.spec.model = "builtin:tiny-flux";
    flux.request.guidance_scale.reset();
    window.form().setSettings(flux);
    QVERIFY(wait_valid(window));
    auto* negative = window.form().findChild<QLineEdit*>("negativePrompt");
    auto* guidance = window.form().findChild<QDoubleSpinBox*>("guidance");
    QVERIFY(negative && guidance);
    // Flux (dev): the scale is an input of the model, no negative prompt.
    QVERIFY(!negative->isEnabled());
    QVERIFY(guidance->isEnabled());
    QCOMPARE(guidance->value(), 3.5);
    QVERIFY2(window.form().model()->summary.find("Flux.1") != std::string::npos,
             window.form().model()->summary.c_str());
    QCOMPARE(window.form().settings().request.negative_prompt, std::string());

    RunController& runs = window.runs();
    QSignalSpy finished(&runs, &RunController::finished);
    QSignalSpy failed(&runs, &RunController::failed);
    window.generateAction()->trigger();  // on two workers, Ulysses 2
    QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), kStartMs);
    QVERIFY2(failed.isEmpty(),
             failed.isEmpty() ? "" : qPrintable(failed.front().front().toString()));
    QCOMPARE(finished.front().front().value<xdit::ui::RunRecord>().image.size(), QSize(128, 128));
    QTRY_VERIFY(window.generateAction()->isEnabled());

    // SD3: classifier-free guidance with a negative prompt, its own default.
    window.form().chooseModel("builtin:tiny-sd3");
    QVERIFY(QTest::qWaitFor(
        [&] {
          const auto& model = window.form().model();
          return model && model->spec == "builtin:tiny-sd3";
        },
        kStartMs));
    QVERIFY(negative->isEnabled());
    QCOMPARE(guidance->value(), 7.0);
    QVERIFY(wait_valid(window));
  }

  void generatesOnTwoWorkersAndStaysWarm() {
    MainWindow window;
    RunController& runs = window.runs();
    runs.setPreviewEvery(1);
    window.form().setSettings(small_settings(3));
    QVERIFY(wait_valid(window));
    QSignalSpy ready(&runs, &RunController::groupReady);
    QSignalSpy progress(&runs, &RunController::progress);
    QSignalSpy previews(&runs, &RunController::preview);
    QSignalSpy metrics(&runs, &RunController::metrics);
    QSignalSpy finished(&runs, &RunController::finished);
    QSignalSpy failed(&runs, &RunController::failed);
    QSignalSpy started(&runs, &RunController::started);
    window.generateAction()->trigger();
    QVERIFY(runs.busy());
    QVERIFY(!window.generateAction()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), kStartMs);
    QVERIFY2(failed.isEmpty(),
             failed.isEmpty() ? "" : qPrintable(failed.front().front().toString()));
    QCOMPARE(ready.size(), 2);
    QCOMPARE(progress.size(), 2 * 3);  // every rank, every step
    QVERIFY(previews.size() >= 2);
    QCOMPARE(metrics.size(), 2);
    QCOMPARE(started.front().at(2).toBool(), true);
    const auto record = finished.front().front().value<xdit::ui::RunRecord>();
    QCOMPARE(record.image.size(), QSize(128, 128));
    QCOMPARE(record.metrics.size(), size_t{2});
    QCOMPARE(record.progress.size(), size_t{6});
    const QImage preview = previews.back().front().value<QImage>();
    QCOMPARE(preview.size(), QSize(16, 16));  // one pixel per latent pixel
    QCOMPARE(window.imageView().image().size(), QSize(128, 128));
    const auto pids = runs.workerPids();
    QCOMPARE(pids.size(), size_t{2});
    QTRY_VERIFY(window.generateAction()->isEnabled());

    // Same model and mesh: the warm group serves it without reloading.
    window.generateAction()->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(finished.size() == 2 || !failed.isEmpty(), kStartMs);
    QVERIFY(failed.isEmpty());
    QCOMPARE(started.back().at(2).toBool(), false);
    QCOMPARE(ready.size(), 2);
    QCOMPARE(runs.workerPids(), pids);
  }

  void cancelStopsTheGroup() {
    MainWindow window;
    RunController& runs = window.runs();
    window.form().setSettings(small_settings(400, 256));
    QVERIFY(wait_valid(window));
    QSignalSpy progress(&runs, &RunController::progress);
    QSignalSpy cancelled(&runs, &RunController::cancelled);
    window.generateAction()->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(!progress.isEmpty(), kStartMs);
    const auto pids = runs.workerPids();
    QCOMPARE(pids.size(), size_t{2});
    window.cancelAction()->trigger();
    QTRY_COMPARE_WITH_TIMEOUT(cancelled.size(), 1, 30000);
    QVERIFY(runs.workerPids().empty());
    for (pid_t pid : pids)
      QVERIFY(process_gone(pid));
    QTRY_VERIFY(window.generateAction()->isEnabled());
    QCOMPARE(window.statusText(), QString("Cancelled"));
  }

  void killedWorkerIsReported() {
    MainWindow window;
    RunController& runs = window.runs();
    window.form().setSettings(small_settings(400, 256));
    QVERIFY(wait_valid(window));
    QSignalSpy progress(&runs, &RunController::progress);
    QSignalSpy failed(&runs, &RunController::failed);
    window.generateAction()->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(!progress.isEmpty(), kStartMs);
    const auto pids = runs.workerPids();
    QCOMPARE(pids.size(), size_t{2});
    QCOMPARE(::kill(pids[1], SIGKILL), 0);
    QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, 30000);
    const QString message = failed.front().front().toString();
    QVERIFY2(message.contains("rank 1"), qPrintable(message));
    for (pid_t pid : pids)
      QVERIFY(process_gone(pid));
    QVERIFY(runs.workerPids().empty());
    QCOMPARE(window.errorText(), message);
    QTRY_VERIFY(window.generateAction()->isEnabled());  // usable again
  }

  void idleWorkerLossIsNoticed() {
    MainWindow window;
    RunController& runs = window.runs();
    window.form().setSettings(small_settings(1));
    QVERIFY(wait_valid(window));
    QSignalSpy finished(&runs, &RunController::finished);
    QSignalSpy failed(&runs, &RunController::failed);
    window.generateAction()->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty(), kStartMs);
    const auto pids = runs.workerPids();
    QCOMPARE(::kill(pids[0], SIGKILL), 0);
    QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, 20000);
    QVERIFY(runs.workerPids().empty());
    for (pid_t pid : pids)
      QVERIFY(process_gone(pid));
  }

  void settingsRoundTripThroughPng() {
    QTemporaryDir dir;
    MainWindow window;
    RunController& runs = window.runs();
    ImageSettings made = small_settings(2);
    made.request.prompts = {"a blue boat, «watercolour»"};
    made.request.guidance_scale = 3.0;
    made.request.seed = 12345;
    window.form().setSettings(made);
    QVERIFY(wait_valid(window));
    QSignalSpy finished(&runs, &RunController::finished);
    window.generateAction()->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty(), kStartMs);

    const QString path = dir.filePath("boat.png");
    QSignalSpy saved(&window, &MainWindow::imageSaved);
    window.saveImage(path);
    QTRY_COMPARE(saved.size(), 1);
    QVERIFY(saved.front().front().toBool());
    const ImageSettings read = xdit::ui::read_image_settings(path.toStdString());
    QCOMPARE(xdit::pipelines::to_json(read.request), xdit::pipelines::to_json(made.request));
    QCOMPARE(xdit::workers::to_json(read.spec), xdit::workers::to_json(made.spec));

    // Another window with other settings restores them from the file.
    MainWindow other;
    other.form().setSettings(small_settings(9));
    QSignalSpy opened(&other, &MainWindow::imageOpened);
    other.openImage(path);
    QTRY_COMPARE(opened.size(), 1);
    QVERIFY(opened.front().front().toBool());
    const ImageSettings restored = other.form().settings();
    QCOMPARE(xdit::pipelines::to_json(restored.request), xdit::pipelines::to_json(made.request));
    QCOMPARE(xdit::workers::to_json(restored.spec), xdit::workers::to_json(made.spec));
    QCOMPARE(other.imageView().image().size(), QSize(128, 128));

    // Generate right away (the form is still checking the restored
    // settings): it starts once they pass, and the same settings and seed
    // give the same image.
    QSignalSpy regenerated(&other.runs(), &RunController::finished);
    other.generate();
    QTRY_VERIFY_WITH_TIMEOUT(!regenerated.isEmpty(), kStartMs);
    const auto again = regenerated.front().front().value<xdit::ui::RunRecord>();
    const auto first = finished.front().front().value<xdit::ui::RunRecord>();
    QCOMPARE(again.image, first.image);
  }

  void lastSettingsAreRestored() {
    ImageSettings made = small_settings(5);
    made.request.prompts = {"remembered"};
    made.spec.parallel.ulysses_degree = 1;
    made.spec.parallel.cfg_degree = 2;
    QString folder;
    {
      MainWindow window;
      window.form().setSettings(made);
      QVERIFY(wait_valid(window));
      // The built-in model's folder, chosen as a folder, is a recent model.
      folder = QString::fromStdString(window.form().model()->folder.string());
      window.form().chooseModel(folder);
      QVERIFY(wait_valid(window));
      window.form().setSettings(made);
      QVERIFY(wait_valid(window));
      window.close();  // saves geometry and settings
    }
    MainWindow again;
    auto* models = again.form().findChild<QComboBox*>("model");
    QVERIFY(models);
    QVERIFY(models->findText(folder) >= 0);
    const ImageSettings restored = again.form().settings();
    QCOMPARE(xdit::pipelines::to_json(restored.request), xdit::pipelines::to_json(made.request));
    QCOMPARE(xdit::workers::to_json(restored.spec), xdit::workers::to_json(made.spec));
  }

  void failedSaveAndBadImageAreShown() {
    QTemporaryDir dir;
    MainWindow window;
    QSignalSpy opened(&window, &MainWindow::imageOpened);
    const QString not_png = dir.filePath("notes.png");
    QFile file(not_png);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("not an image");
    file.close();
    window.openImage(not_png);
    QTRY_COMPARE(opened.size(), 1);
    QVERIFY(!opened.front().front().toBool());
    QVERIFY2(window.errorText().contains("notes.png"), qPrintable(window.errorText()));

    // A run's image saved where nothing can be written.
    RunController& runs = window.runs();
    window.form().setSettings(small_settings(1));
    QVERIFY(wait_valid(window));
    QSignalSpy finished(&runs, &RunController::finished);
    window.generateAction()->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty(), kStartMs);
    QVERIFY(window.errorText().isEmpty());
    QSignalSpy saved(&window, &MainWindow::imageSaved);
    window.saveImage(dir.filePath("no-such-dir/out.png"));
    QTRY_COMPARE(saved.size(), 1);
    QVERIFY(!saved.front().front().toBool());
    QVERIFY2(window.errorText().contains("Could not save"), qPrintable(window.errorText()));
  }

  // The Explore tab: a plan of 2 devices for the form's model, the meshes
  // that do not fit greyed, two meshes measured on worker groups beside
  // their predictions, one of them put into the form, and the reports.
  void exploreTabPlansMeasuresAndFillsTheForm() {
    QTemporaryDir cache, sweeps, history, out;
    // No calibration of the developer's machine leaks in.
    qputenv("XDG_CACHE_HOME", cache.path().toUtf8());
    MainWindow window;
    window.form().setSettings(small_settings(2));
    QVERIFY2(wait_valid(window), qPrintable(window.form().message()));
    xdit::ui::ExplorePanel explore(window.form(),
                                   xdit::ui::HistoryStore(history.path().toStdString()),
                                   sweeps.path().toStdString());
    QSignalSpy planned(&explore, &xdit::ui::ExplorePanel::planned);
    QSignalSpy swept(&explore, &xdit::ui::ExplorePanel::swept);
    QSignalSpy problem(&explore, &xdit::ui::ExplorePanel::problem);
    explore.devicesBox()->setValue(2);
    explore.interconnectBox()->setCurrentText("measured");
    explore.plan();  // measured: there is no calibration
    QTRY_COMPARE_WITH_TIMEOUT(problem.size(), 1, kStartMs);
    QVERIFY2(problem.front().front().toString().contains("calibrate"),
             qPrintable(problem.front().front().toString()));

    explore.interconnectBox()->setCurrentText("pcie");
    explore.plan();
    QTRY_COMPARE_WITH_TIMEOUT(planned.size(), 1, kStartMs);
    QTableWidget* table = explore.table();
    const auto& plans = explore.plans();
    QVERIFY(table->rowCount() >= 6);  // cfg, ulysses, ring, tensor, pipefusion ×3, distrifusion
    QCOMPARE(static_cast<size_t>(table->rowCount()), plans.size());
    QCOMPARE(explore.chart()->fitting()->dataCount(), table->rowCount());

    // A device a little smaller than the largest mesh needs (the box has
    // MiB steps): what does not fit comes last, greyed with the reason.
    constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
    int64_t most = 0;
    for (const auto& p : plans)
      most = std::max(most, p.memory_per_rank_bytes);
    explore.memoryBox()->setValue(std::floor(static_cast<double>(most) / kGiB * 1000 - 0.5) / 1000);
    const double limit = explore.memoryBox()->value() * kGiB;
    explore.plan();
    QTRY_COMPARE_WITH_TIMEOUT(planned.size(), 2, kStartMs);
    int unfit = 0;
    for (int row = 0; row < table->rowCount(); ++row) {
      const auto& p = explore.plans()[static_cast<size_t>(row)];
      QCOMPARE(p.fits, static_cast<double>(p.memory_per_rank_bytes) <= limit);
      QCOMPARE(static_cast<bool>(table->item(row, 0)->flags() & Qt::ItemIsUserCheckable), p.fits);
      if (!p.fits) {
        ++unfit;
        QVERIFY(table->item(row, 7)->text().contains("more than"));
      }
    }
    QVERIFY(unfit >= 1);
    QVERIFY(!explore.plans().back().fits);
    QCOMPARE(explore.chart()->notFitting()->dataCount(), unfit);

    // Measure the first two meshes only.
    for (int row = 0; row < table->rowCount(); ++row) {
      if (table->item(row, 0)->flags() & Qt::ItemIsUserCheckable)
        table->item(row, 0)->setCheckState(row < 2 ? Qt::Checked : Qt::Unchecked);
    }
    explore.sweepChecked();
    QTRY_COMPARE_WITH_TIMEOUT(swept.size(), 1, 4 * kStartMs);
    QVERIFY2(problem.size() == 1, qPrintable(explore.statusText()));
    for (int row = 0; row < 2; ++row)
      QVERIFY2(table->item(row, 6)->text().toDouble() > 0, qPrintable(table->item(row, 6)->text()));
    QVERIFY(table->item(2, 6)->text().isEmpty());
    QCOMPARE(explore.chart()->measured()->dataCount(), 2);

    // The second mesh into the form.
    table->selectRow(1);
    explore.useSelected();
    QCOMPARE(window.form().settings().spec.parallel.label(), plans[1].config.label());
    QCOMPARE(window.form().settings().spec.world_size, 2);

    // The sweep's report, and the (empty) history's.
    QSignalSpy exported(&explore, &xdit::ui::ExplorePanel::exported);
    explore.exportSweepReport(out.filePath("sweep.html"));
    QCOMPARE(exported.size(), 1);
    QVERIFY(QFile::exists(out.filePath("sweep.html")));
    QVERIFY(QFile::exists(out.filePath("sweep.json")));
    QVERIFY(QFile::exists(out.filePath("sweep.csv")));
    explore.exportHistoryReport(out.filePath("history.html"));
    QCOMPARE(problem.size(), 2);
    QVERIFY(problem.back().front().toString().contains("empty"));
    qunsetenv("XDG_CACHE_HOME");
  }
};

QTEST_MAIN(StudioTest)
#include "studio_test.moc"
