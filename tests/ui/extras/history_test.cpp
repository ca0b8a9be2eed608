#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest/QtTest>
#include <fstream>

#include "extras_tests.hpp"
#include "report/sweep_report.hpp"
#include "ui/history/compare_dialog.hpp"
#include "ui/history/history_panel.hpp"
#include "ui/history/history_report.hpp"
#include "ui/history/history_store.hpp"
#include "ui/history/image_difference.hpp"

namespace xdit::ui::testing {
namespace {

constexpr int kWaitMs = 10000;

std::filesystem::path path_of(const QTemporaryDir& dir) {
  return dir.path().toStdString();
}

}  // namespace

void HistoryTest::storeAddsListsAndDeletes() {
  QTemporaryDir dir;
  const HistoryStore store(path_of(dir) / "history");
  QVERIFY(store.list().empty());  // no folder yet
  const RunRecord older = synthetic_record(2, 1);
  const RunRecord newer = synthetic_record(3, 2);
  store.add(older);
  store.add(newer);
  QVERIFY(std::filesystem::exists(store.root() / newer.id.toStdString() / kThumbnailFile));
  const std::vector<HistoryEntry> entries = store.list();
  QCOMPARE(entries.size(), size_t{2});
  QCOMPARE(entries[0].id, newer.id);  // newest first
  QCOMPARE(entries[1].id, older.id);
  QVERIFY(qAbs(entries[0].seconds_per_step - seconds_per_step(newer)) < 1e-12);
  QCOMPARE(entries[0].peak_memory_bytes, peak_memory_bytes(newer));
  QCOMPARE(entries[0].summary, settings_summary(newer));
  QVERIFY(!entries[0].thumbnail.isNull());
  QVERIFY(entries[0].thumbnail.width() <= kThumbnailSize);

  const RunRecord loaded = store.load(older.id);
  QCOMPARE(loaded.progress.size(), older.progress.size());
  QCOMPARE(loaded.image.pixel(5, 5), older.image.pixel(5, 5));

  QVERIFY(store.remove(older.id));
  QVERIFY(!store.remove(older.id));
  QCOMPARE(store.list().size(), size_t{1});
  QVERIFY(!std::filesystem::exists(store.root() / older.id.toStdString()));
  QVERIFY_THROWS_EXCEPTION(Error, store.load(older.id));
  QVERIFY_THROWS_EXCEPTION(UsageError, store.remove(QStringLiteral("../escape")));
}

void HistoryTest::storeSkipsUnreadableRuns() {
  QTemporaryDir dir;
  const HistoryStore store(path_of(dir));
  store.add(synthetic_record(2));
  std::filesystem::create_directories(store.root() / "broken");
  std::ofstream(store.root() / "broken" / kRecordFile) << "{\"id\": 3}";
  std::vector<QString> problems;
  QCOMPARE(store.list(&problems).size(), size_t{1});
  QCOMPARE(problems.size(), size_t{1});
  QVERIFY2(problems[0].contains(QStringLiteral("broken")), qPrintable(problems[0]));
}

void HistoryTest::panelKeepsRunsAndRerunsThem() {
  QTemporaryDir dir;
  const HistoryStore store(path_of(dir));
  const RunRecord first = synthetic_record(2, 1);
  store.add(first);
  HistoryPanel panel(store);
  QTRY_COMPARE_WITH_TIMEOUT(panel.ids(), QStringList{first.id}, kWaitMs);

  QSignalSpy added(&panel, &HistoryPanel::added);
  const RunRecord second = synthetic_record(4, 2);
  panel.addRecord(second);
  QTRY_COMPARE_WITH_TIMEOUT(added.count(), 1, kWaitMs);
  QCOMPARE(panel.ids(), QStringList({second.id, first.id}));
  QVERIFY(!panel.list()->item(0)->icon().isNull());
  QVERIFY(panel.list()->item(0)->text().contains(QStringLiteral("s/step")));
  QCOMPARE(store.list().size(), size_t{2});  // on disk, not only listed

  QSignalSpy rerun(&panel, &HistoryPanel::rerunRequested);
  panel.select({first.id});
  panel.rerunSelected();
  QTRY_COMPARE_WITH_TIMEOUT(rerun.count(), 1, kWaitMs);
  const auto again = rerun.takeFirst().at(0).value<RunRecord>();
  QCOMPARE(again.id, first.id);
  QCOMPARE(again.request.num_inference_steps, int64_t{2});
  QCOMPARE(again.spec.parallel.ulysses_degree, 2);

  QSignalSpy compared(&panel, &HistoryPanel::compared);
  panel.select({first.id, second.id});
  panel.compareSelected();
  QTRY_COMPARE_WITH_TIMEOUT(compared.count(), 1, kWaitMs);

  QSignalSpy opened(&panel, &HistoryPanel::opened);
  panel.select({second.id});
  panel.openSelected();
  QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, kWaitMs);

  // Deleting asks first; the store's answer is what the list follows.
  QSignalSpy removed(&panel, &HistoryPanel::removed);
  QTimer::singleShot(200, [] {
    for (QWidget* w : QApplication::topLevelWidgets()) {
      if (auto* box = qobject_cast<QMessageBox*>(w))
        box->button(QMessageBox::Yes)->click();
    }
  });
  panel.select({first.id});
  panel.deleteSelected();
  QTRY_COMPARE_WITH_TIMEOUT(removed.count(), 1, kWaitMs);
  QCOMPARE(panel.ids(), QStringList{second.id});
  QCOMPARE(store.list().size(), size_t{1});

  // Another panel on the same folder lists what is on disk.
  HistoryPanel reread(store);
  QTRY_COMPARE_WITH_TIMEOUT(reread.ids(), QStringList{second.id}, kWaitMs);
}

void HistoryTest::differenceImageIsAmplified() {
  QImage a(8, 6, QImage::Format_RGB32);
  a.fill(qRgb(100, 100, 100));
  QImage b = a;
  b.setPixel(3, 2, qRgb(104, 100, 98));
  const ImageDifference same = difference_image(a, a);
  QCOMPARE(same.max_level, 0);
  QCOMPARE(same.image.pixel(3, 2), qRgb(0, 0, 0));
  const ImageDifference d = difference_image(a, b);
  QCOMPARE(d.max_level, 4);
  QCOMPARE(d.gain, 32.0);  // 255 / 4 would be more: capped
  QCOMPARE(d.image.size(), a.size());
  QCOMPARE(d.image.pixel(3, 2), qRgb(128, 0, 64));
  QCOMPARE(d.image.pixel(0, 0), qRgb(0, 0, 0));
  QVERIFY(qAbs(d.mean_level - 6.0 / (8 * 6 * 3)) < 1e-12);
  // A large difference is scaled to full brightness, no more.
  QImage c = a;
  c.setPixel(0, 0, qRgb(0, 100, 100));
  const ImageDifference big = difference_image(a, c);
  QCOMPARE(big.max_level, 100);
  QCOMPARE(qRed(big.image.pixel(0, 0)), 255);
  // Another size is scaled to the first image's.
  QCOMPARE(difference_image(a, a.scaled(16, 12)).image.size(), a.size());
  QVERIFY(difference_image(a, QImage()).image.isNull());
}

void HistoryTest::compareDialogShowsBothRuns() {
  const RunRecord a = synthetic_record(2, 0);
  const RunRecord b = synthetic_record(4, 40);
  const CompareDialog dialog(a, b);
  QCOMPARE(dialog.difference().max_level, 40);  // only the blue channel differs
  QVERIFY(!dialog.difference().image.isNull());
  QTableWidget* table = dialog.figures();
  QStringList rows;
  for (int r = 0; r < table->rowCount(); ++r)
    rows << table->verticalHeaderItem(r)->text();
  QVERIFY2(rows.contains(QStringLiteral("Seconds per step")), qPrintable(rows.join(',')));
  QVERIFY(rows.contains(QStringLiteral("Peak memory, rank 1")));
  const int sps = static_cast<int>(rows.indexOf(QStringLiteral("Seconds per step")));
  QCOMPARE(table->item(sps, 0)->text(), QString::number(seconds_per_step(a), 'f', 3));
  QCOMPARE(table->item(sps, 1)->text(), QString::number(seconds_per_step(b), 'f', 3));
  QVERIFY(table->item(sps, 2)->text().startsWith(QStringLiteral("×")));
}

// Past runs become report rows with a sweep's figures, oldest first; a run
// beside its serial twin gets its speedup, a failed one its error.
void HistoryTest::historyBecomesASweepReport() {
  RunRecord parallel = synthetic_record(3);
  RunRecord serial = synthetic_record(3);
  serial.spec.parallel = {};
  serial.spec.world_size = 1;
  serial.metrics.resize(1);
  serial.started = parallel.started.addSecs(-60);
  RunRecord failed = synthetic_record(2);
  failed.error = QStringLiteral("rank 1 was killed by signal 9");
  failed.started = parallel.started.addSecs(60);

  const report::SweepReport r = history_report({parallel, failed, serial});
  QCOMPARE(r.rows.size(), size_t{3});
  const auto& first = r.rows[0];
  QCOMPARE(first["world_size"].get<int>(), 1);
  QCOMPARE(first["status"].get<std::string>(), std::string("ok"));
  const auto& second = r.rows[1];
  QCOMPARE(second["mesh"].get<std::string>(), std::string("ulysses 2"));
  QVERIFY(second["command"].get<std::string>().find("--nproc 2 --ulysses_degree 2") !=
          std::string::npos);
  QCOMPARE(second["reference"].get<std::string>(), first["flags"].get<std::string>());
  QCOMPARE(second["ranks"].size(), size_t{2});
  QCOMPARE(second["step_seconds"]["count"].get<int>(), 3);
  QVERIFY(second["ranks"][0]["peak_memory_bytes"].get<double>() > 0);
  QVERIFY(report::speedup_of(second, r.rows) > 0);
  QCOMPARE(r.rows[2]["status"].get<std::string>(), std::string("failed"));
  QVERIFY(r.rows[2]["reason"].get<std::string>().find("signal 9") != std::string::npos);
  // The page names every run.
  const std::string page = report::report_html(r, "");
  QVERIFY(page.find("rank 1 was killed by signal 9") != std::string::npos);
}

}  // namespace xdit::ui::testing
