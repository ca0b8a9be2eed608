#pragma once
// The list of past runs, newest first: thumbnail, date, settings and figures
// (s/step, peak memory). Open shows a run (image, settings, charts); Re-run
// hands its settings back (rerunRequested, which the main window connects to
// its form); Delete removes it from disk; Compare puts two side by side.
// Every finished run given to addRecord() is kept on disk. All disk work
// runs on the panel's own thread.

#include <QList>
#include <QStringList>
#include <QThread>
#include <QWidget>

#include "ui/history/history_store.hpp"
#include "ui/run_record.hpp"

class QListWidget;
class QListWidgetItem;
class QPushButton;
class QLabel;

namespace xdit::ui {

class HistoryIo;

class HistoryPanel : public QWidget {
  Q_OBJECT

 public:
  explicit HistoryPanel(HistoryStore store = HistoryStore(), QWidget* parent = nullptr);
  ~HistoryPanel() override;

  QListWidget* list() const { return list_; }
  // The runs listed, in list order.
  QStringList ids() const;
  // Selects the runs with these ids (for tests and keyboard use).
  void select(const QStringList& ids);

 public Q_SLOTS:
  // Reads the history again (listed() follows).
  void refresh();
  // Keeps a finished run and lists it first (added() follows).
  void addRecord(const xdit::ui::RunRecord& record);
  void openSelected();
  void rerunSelected();
  void deleteSelected();  // asks first
  void compareSelected();

 Q_SIGNALS:
  // The settings of a past run, to fill the generation form and start it.
  void rerunRequested(xdit::ui::RunRecord record);
  // A past run was opened (its dialog is showing).
  void opened(xdit::ui::RunRecord record);
  // Two runs are being compared (their dialog is showing).
  void compared(xdit::ui::RunRecord a, xdit::ui::RunRecord b);
  void listed();
  void added(QString id);
  void removed(QStringList ids);
  // A disk failure, also shown in the panel.
  void problem(QString message);

 private Q_SLOTS:
  void showEntries(const QList<xdit::ui::HistoryEntry>& entries, const QStringList& problems);
  void insertEntry(const xdit::ui::HistoryEntry& entry, int row);
  void dropEntries(const QStringList& ids);
  void handleLoaded(const QList<xdit::ui::RunRecord>& records, int purpose);
  void showProblem(const QString& message);
  void updateButtons();

 Q_SIGNALS:
  // To the disk thread.
  void requestList();
  void requestAdd(xdit::ui::RunRecord record);
  void requestLoad(QStringList ids, int purpose);
  void requestRemove(QStringList ids);

 private:
  QStringList selectedIds() const;

  QThread thread_;
  HistoryIo* io_;  // lives on thread_
  QListWidget* list_;
  QLabel* status_;
  QPushButton* open_;
  QPushButton* rerun_;
  QPushButton* compare_;
  QPushButton* delete_;
};

}  // namespace xdit::ui
