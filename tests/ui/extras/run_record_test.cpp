#include <QTemporaryDir>
#include <QtTest/QtTest>
#include <fstream>

#include "core/error.hpp"
#include "extras_tests.hpp"

namespace xdit::ui::testing {

void RunRecordTest::jsonRoundTrip() {
  const RunRecord r = synthetic_record(3);
  const nlohmann::json j = to_json(r, "image.png");
  const RunRecord back = run_record_from_json(nlohmann::json::parse(j.dump()), "test");
  QCOMPARE(back.id, r.id);
  QCOMPARE(back.started, r.started);
  QCOMPARE(back.spec.world_size, 2);
  QCOMPARE(back.spec.parallel.ulysses_degree, 2);
  QCOMPARE(back.request.prompts, r.request.prompts);
  QCOMPARE(back.request.negative_prompt, r.request.negative_prompt);
  QCOMPARE(back.request.num_inference_steps, int64_t{3});
  QCOMPARE(back.request.seed, uint64_t{42});
  QCOMPARE(back.ready.size(), size_t{2});
  QCOMPARE(back.ready[1].memory.peak_rss_bytes, r.ready[1].memory.peak_rss_bytes);
  QCOMPARE(back.progress.size(), r.progress.size());
  QCOMPARE(back.progress[4].seconds, r.progress[4].seconds);
  QCOMPARE(back.progress[4].memory.rss_bytes, r.progress[4].memory.rss_bytes);
  QCOMPARE(back.metrics.size(), size_t{2});
  QCOMPARE(back.metrics[1].step_seconds, r.metrics[1].step_seconds);
  QCOMPARE(back.metrics[1].timeline.waits.size(), size_t{2});
  QCOMPARE(back.metrics[1].timeline.waits[0].op, parallel::CommOp::kAllToAll);
  QCOMPARE(back.metrics[1].timeline.waits[0].start, 0.01);
  QCOMPARE(back.total_seconds, 2.5);
  QVERIFY(back.error.isEmpty());
  QVERIFY(back.image.isNull());  // images live beside the JSON
}

void RunRecordTest::diskRoundTripKeepsTheImage() {
  QTemporaryDir dir;
  RunRecord r = synthetic_record(2, 77);
  r.error = QStringLiteral("worker 1 was killed (signal 9)");
  const std::filesystem::path folder = dir.filePath(QStringLiteral("run")).toStdString();
  save_run_record(r, folder);
  QVERIFY(std::filesystem::exists(folder / kRecordFile));
  QVERIFY(std::filesystem::exists(folder / kImageFile));
  const RunRecord back = load_run_record(folder);
  QCOMPARE(back.image.size(), r.image.size());
  QCOMPARE(back.image.pixel(10, 20), r.image.pixel(10, 20));
  QCOMPARE(back.error, r.error);

  RunRecord without_image = synthetic_record(1);
  without_image.image = QImage();
  save_run_record(without_image, folder / "none");
  QVERIFY(!std::filesystem::exists(folder / "none" / kImageFile));
  QVERIFY(load_run_record(folder / "none").image.isNull());
}

void RunRecordTest::figures() {
  const RunRecord r = synthetic_record(3);
  // Steps 0.1, 0.2, 0.3 on rank 0 and 0.11, 0.21, 0.31 on rank 1.
  QVERIFY(qAbs(seconds_per_step(r) - 0.205) < 1e-9);
  QCOMPARE(peak_memory_bytes(r), int64_t{301} << 20);
  const QString summary = settings_summary(r);
  QVERIFY2(summary.contains(QStringLiteral("96×64")), qPrintable(summary));
  QVERIFY2(summary.contains(QStringLiteral("ulysses 2")), qPrintable(summary));
  QCOMPARE(bytes_text(int64_t{512} << 20), QStringLiteral("512 MiB"));
  QCOMPARE(bytes_text(int64_t{3} << 29), QStringLiteral("1.50 GiB"));
  RunRecord failed = r;
  failed.metrics.clear();  // a failed run: only the steps it did
  QVERIFY(qAbs(seconds_per_step(failed) - 0.205) < 1e-9);
}

void RunRecordTest::refusesABrokenRecord() {
  nlohmann::json j = to_json(synthetic_record(1), "");
  j["progress"][0]["seconds"] = "slow";
  QVERIFY_THROWS_EXCEPTION(ConfigError, run_record_from_json(j, "record.json"));
  QTemporaryDir dir;
  const std::filesystem::path folder = dir.path().toStdString();
  QVERIFY_THROWS_EXCEPTION(Error, load_run_record(folder));  // no record.json
  std::ofstream(folder / kRecordFile) << "{not json";
  QVERIFY_THROWS_EXCEPTION(Error, load_run_record(folder));
}

}  // namespace xdit::ui::testing
