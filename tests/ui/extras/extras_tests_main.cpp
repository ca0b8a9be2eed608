#include <QApplication>
#include <QStandardPaths>
#include <QtTest/QtTest>

#include "extras_tests.hpp"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  // The history's default root comes from the application's name; tests use
  // temporary folders, but nothing may touch a real user's history.
  QApplication::setApplicationName(QStringLiteral("xdit-studio-extras-tests"));
  QStandardPaths::setTestModeEnabled(true);
  int failed = 0;
  xdit::ui::testing::RunRecordTest record;
  failed += QTest::qExec(&record, argc, argv);
  xdit::ui::testing::ChartsTest charts;
  failed += QTest::qExec(&charts, argc, argv);
  xdit::ui::testing::DevicesTest devices;
  failed += QTest::qExec(&devices, argc, argv);
  xdit::ui::testing::HistoryTest history;
  failed += QTest::qExec(&history, argc, argv);
  return failed == 0 ? 0 : 1;
}
