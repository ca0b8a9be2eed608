#pragma once
// The test classes of xdit_ui_extras_tests, run in turn by its main, and the
// synthetic runs they share.

#include <QObject>

#include "ui/run_record.hpp"

namespace xdit::ui::testing {

// A finished 2-rank run of `steps` steps with an image (a gradient, tinted by
// `tint`), progress from both ranks and metrics with a last-step timeline.
RunRecord synthetic_record(int steps = 3, int tint = 0);

class RunRecordTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void jsonRoundTrip();
  void diskRoundTripKeepsTheImage();
  void figures();
  void refusesABrokenRecord();
};

class ChartsTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void progressFillsOneLinePerRankAndSeries();
  void ganttSegmentsFillEachStep();
  void ganttBarsFollowTheTimeline();
  void chartsSaveAsPngAndPdf();
  void showRecordReplaysARun();
};

class DevicesTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void pickerListsGpusAndChoosesThem();
  void pickerShowsASpec();
  void moreRanksThanChosenGpusNeedGloo();
  void memoryChartShowsGpuMemoryByDevice();
};

class HistoryTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void storeAddsListsAndDeletes();
  void storeSkipsUnreadableRuns();
  void panelKeepsRunsAndRerunsThem();
  void differenceImageIsAmplified();
  void compareDialogShowsBothRuns();
  void historyBecomesASweepReport();
};

}  // namespace xdit::ui::testing
