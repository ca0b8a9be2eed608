#include "ui/history/history_io.hpp"

namespace xdit::ui {

HistoryIo::HistoryIo(HistoryStore store) : store_(std::move(store)) {
  qRegisterMetaType<HistoryEntry>();
  qRegisterMetaType<QList<HistoryEntry>>();
  qRegisterMetaType<RunRecord>();
  qRegisterMetaType<QList<RunRecord>>();
}

void HistoryIo::list() {
  std::vector<QString> problems;
  const std::vector<HistoryEntry> entries = store_.list(&problems);
  Q_EMIT listed(QList<HistoryEntry>(entries.begin(), entries.end()),
                QStringList(problems.begin(), problems.end()));
}

void HistoryIo::add(const RunRecord& record) {
  try {
    store_.add(record);
    Q_EMIT added(HistoryStore::entry_of(
        record, record.image.isNull()
                    ? QImage()
                    : record.image.scaled(kThumbnailSize, kThumbnailSize, Qt::KeepAspectRatio,
                                          Qt::SmoothTransformation)));
  } catch (const std::exception& e) {
    Q_EMIT failed(tr("The run was not kept in the history: %1").arg(QString::fromUtf8(e.what())));
  }
}

void HistoryIo::load(const QStringList& ids, int purpose) {
  QList<RunRecord> records;
  try {
    for (const QString& id : ids)
      records.push_back(store_.load(id));
  } catch (const std::exception& e) {
    Q_EMIT failed(tr("Cannot read the run: %1").arg(QString::fromUtf8(e.what())));
    return;
  }
  Q_EMIT loaded(records, purpose);
}

void HistoryIo::remove(const QStringList& ids) {
  QStringList gone;
  try {
    for (const QString& id : ids) {
      store_.remove(id);
      gone << id;
    }
  } catch (const std::exception& e) {
    Q_EMIT failed(tr("Cannot delete the run: %1").arg(QString::fromUtf8(e.what())));
  }
  if (!gone.isEmpty())
    Q_EMIT removed(gone);
}

}  // namespace xdit::ui
