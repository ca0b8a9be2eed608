#pragma once
// The HistoryPanel's disk work on a thread of its own: requests come in as
// queued slot calls, answers go back as signals, so the GUI thread never
// waits on the disk. Internal to the panel.

#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>
#include <vector>

#include "ui/history/history_store.hpp"
#include "ui/run_record.hpp"

namespace xdit::ui {

class HistoryIo : public QObject {
  Q_OBJECT

 public:
  // Why records are loaded, handed back with them.
  enum Purpose { kOpen, kRerun, kCompare };

  explicit HistoryIo(HistoryStore store);

 public Q_SLOTS:
  void list();
  void add(const xdit::ui::RunRecord& record);
  void load(const QStringList& ids, int purpose);
  void remove(const QStringList& ids);

 Q_SIGNALS:
  void listed(QList<xdit::ui::HistoryEntry> entries, QStringList problems);
  void added(xdit::ui::HistoryEntry entry);
  void loaded(QList<xdit::ui::RunRecord> records, int purpose);
  void removed(QStringList ids);
  void failed(QString message);

 private:
  HistoryStore store_;
};

}  // namespace xdit::ui

Q_DECLARE_METATYPE(xdit::ui::HistoryEntry)
