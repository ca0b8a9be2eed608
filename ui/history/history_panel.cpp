#include "ui/history/history_panel.hpp"

#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QVBoxLayout>

#include "ui/history/compare_dialog.hpp"
#include "ui/history/history_io.hpp"
#include "ui/history/run_dialog.hpp"

namespace xdit::ui {
namespace {

constexpr int kIdRole = Qt::UserRole;

QString entry_text(const HistoryEntry& e) {
  QString first = e.started.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
  if (e.error.isEmpty()) {
    first += QObject::tr("  ·  %1 s/step  ·  peak %2  ·  %3 s total")
                 .arg(e.seconds_per_step, 0, 'f', 3)
                 .arg(bytes_text(e.peak_memory_bytes))
                 .arg(e.total_seconds, 0, 'f', 1);
  } else {
    first += QObject::tr("  ·  failed: %1").arg(e.error);
  }
  return first + QLatin1Char('\n') + e.summary;
}

}  // namespace

HistoryPanel::HistoryPanel(HistoryStore store, QWidget* parent)
    : QWidget(parent),
      io_(new HistoryIo(std::move(store))),
      list_(new QListWidget),
      status_(new QLabel),
      open_(new QPushButton(tr("Open"))),
      rerun_(new QPushButton(tr("Re-run"))),
      compare_(new QPushButton(tr("Compare"))),
      delete_(new QPushButton(tr("Delete"))) {
  io_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, io_, &QObject::deleteLater);
  connect(this, &HistoryPanel::requestList, io_, &HistoryIo::list);
  connect(this, &HistoryPanel::requestAdd, io_, &HistoryIo::add);
  connect(this, &HistoryPanel::requestLoad, io_, &HistoryIo::load);
  connect(this, &HistoryPanel::requestRemove, io_, &HistoryIo::remove);
  connect(io_, &HistoryIo::listed, this, &HistoryPanel::showEntries);
  connect(io_, &HistoryIo::added, this, [this](const HistoryEntry& entry) {
    insertEntry(entry, 0);
    list_->setCurrentRow(0);
    Q_EMIT added(entry.id);
  });
  connect(io_, &HistoryIo::loaded, this, &HistoryPanel::handleLoaded);
  connect(io_, &HistoryIo::removed, this, &HistoryPanel::dropEntries);
  connect(io_, &HistoryIo::failed, this, &HistoryPanel::showProblem);
  thread_.setObjectName(QStringLiteral("history-io"));
  thread_.start();

  list_->setIconSize(QSize(kThumbnailSize, kThumbnailSize));
  list_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  list_->setUniformItemSizes(false);
  list_->setAlternatingRowColors(true);
  list_->setWordWrap(true);
  connect(list_, &QListWidget::itemSelectionChanged, this, &HistoryPanel::updateButtons);
  connect(list_, &QListWidget::itemDoubleClicked, this, &HistoryPanel::openSelected);

  open_->setToolTip(tr("Show the run's image, settings and charts"));
  rerun_->setToolTip(tr("Generate again with this run's settings"));
  compare_->setToolTip(tr("Select two runs to compare them side by side"));
  delete_->setToolTip(tr("Delete the selected runs from the history"));
  delete_->setShortcut(QKeySequence::Delete);
  connect(open_, &QPushButton::clicked, this, &HistoryPanel::openSelected);
  connect(rerun_, &QPushButton::clicked, this, &HistoryPanel::rerunSelected);
  connect(compare_, &QPushButton::clicked, this, &HistoryPanel::compareSelected);
  connect(delete_, &QPushButton::clicked, this, &HistoryPanel::deleteSelected);

  status_->setWordWrap(true);
  status_->setVisible(false);
  auto* buttons = new QHBoxLayout;
  for (QPushButton* b : {open_, rerun_, compare_, delete_})
    buttons->addWidget(b);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(list_, 1);
  layout->addWidget(status_);
  layout->addLayout(buttons);
  updateButtons();
  refresh();
}

HistoryPanel::~HistoryPanel() {
  thread_.quit();
  thread_.wait();
}

QStringList HistoryPanel::ids() const {
  QStringList out;
  for (int i = 0; i < list_->count(); ++i)
    out << list_->item(i)->data(kIdRole).toString();
  return out;
}

void HistoryPanel::select(const QStringList& ids) {
  list_->clearSelection();
  for (int i = 0; i < list_->count(); ++i) {
    if (ids.contains(list_->item(i)->data(kIdRole).toString()))
      list_->item(i)->setSelected(true);
  }
}

QStringList HistoryPanel::selectedIds() const {
  QStringList out;
  for (int i = 0; i < list_->count(); ++i) {
    if (list_->item(i)->isSelected())
      out << list_->item(i)->data(kIdRole).toString();
  }
  return out;
}

void HistoryPanel::refresh() {
  Q_EMIT requestList();
}

void HistoryPanel::addRecord(const RunRecord& record) {
  Q_EMIT requestAdd(record);
}

void HistoryPanel::openSelected() {
  const QStringList ids = selectedIds();
  if (ids.size() == 1)
    Q_EMIT requestLoad(ids, HistoryIo::kOpen);
}

void HistoryPanel::rerunSelected() {
  const QStringList ids = selectedIds();
  if (ids.size() == 1)
    Q_EMIT requestLoad(ids, HistoryIo::kRerun);
}

void HistoryPanel::compareSelected() {
  const QStringList ids = selectedIds();
  if (ids.size() == 2)
    Q_EMIT requestLoad(ids, HistoryIo::kCompare);
}

void HistoryPanel::deleteSelected() {
  const QStringList ids = selectedIds();
  if (ids.isEmpty())
    return;
  const auto answer = QMessageBox::question(
      this, tr("Delete runs"),
      ids.size() == 1 ? tr("Delete this run from the history?")
                      : tr("Delete these %1 runs from the history?").arg(ids.size()));
  if (answer == QMessageBox::Yes)
    Q_EMIT requestRemove(ids);
}

void HistoryPanel::showEntries(const QList<HistoryEntry>& entries, const QStringList& problems) {
  list_->clear();
  for (const HistoryEntry& entry : entries)
    insertEntry(entry, list_->count());
  if (!problems.isEmpty()) {
    showProblem(tr("%n run(s) in the history could not be read: %1", nullptr, problems.size())
                    .arg(problems.join(QStringLiteral("; "))));
  }
  updateButtons();
  Q_EMIT listed();
}

void HistoryPanel::insertEntry(const HistoryEntry& entry, int row) {
  for (int i = 0; i < list_->count(); ++i) {
    if (list_->item(i)->data(kIdRole).toString() == entry.id)
      delete list_->takeItem(i--);
  }
  auto* item = new QListWidgetItem(entry_text(entry));
  item->setData(kIdRole, entry.id);
  if (!entry.thumbnail.isNull())
    item->setIcon(QIcon(QPixmap::fromImage(entry.thumbnail)));
  item->setToolTip(entry.summary);
  list_->insertItem(std::min(row, list_->count()), item);
}

void HistoryPanel::dropEntries(const QStringList& ids) {
  for (int i = list_->count() - 1; i >= 0; --i) {
    if (ids.contains(list_->item(i)->data(kIdRole).toString()))
      delete list_->takeItem(i);
  }
  updateButtons();
  Q_EMIT removed(ids);
}

void HistoryPanel::handleLoaded(const QList<RunRecord>& records, int purpose) {
  if (purpose == HistoryIo::kRerun && records.size() == 1) {
    Q_EMIT rerunRequested(records[0]);
  } else if (purpose == HistoryIo::kOpen && records.size() == 1) {
    auto* dialog = new RunDialog(records[0], this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &RunDialog::rerunRequested, this, &HistoryPanel::rerunRequested);
    dialog->show();
    Q_EMIT opened(records[0]);
  } else if (purpose == HistoryIo::kCompare && records.size() == 2) {
    auto* dialog = new CompareDialog(records[0], records[1], this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->show();
    Q_EMIT compared(records[0], records[1]);
  }
}

void HistoryPanel::showProblem(const QString& message) {
  status_->setText(message);
  status_->setVisible(true);
  Q_EMIT problem(message);
}

void HistoryPanel::updateButtons() {
  const int n = static_cast<int>(selectedIds().size());
  open_->setEnabled(n == 1);
  rerun_->setEnabled(n == 1);
  compare_->setEnabled(n == 2);
  delete_->setEnabled(n >= 1);
}

}  // namespace xdit::ui
