#include "ui/history/history_store.hpp"

#include <QStandardPaths>
#include <algorithm>
#include <system_error>

#include "core/error.hpp"

namespace xdit::ui {

std::filesystem::path HistoryStore::default_root() {
  const QString data = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
  return std::filesystem::path(data.toStdString()) / "history";
}

HistoryStore::HistoryStore(std::filesystem::path root) : root_(std::move(root)) {}

std::filesystem::path HistoryStore::folder(const QString& id) const {
  const std::string name = id.toStdString();
  // Ids name folders: nothing that could step outside the root.
  if (name.empty() || name.find_first_of("/\\") != std::string::npos || name == "." ||
      name == "..") {
    throw UsageError("'" + name + "' is not a run id");
  }
  return root_ / name;
}

HistoryEntry HistoryStore::entry_of(const RunRecord& record, QImage thumbnail) {
  return {record.id,
          record.started,
          settings_summary(record),
          seconds_per_step(record),
          peak_memory_bytes(record),
          record.total_seconds,
          record.error,
          std::move(thumbnail)};
}

void HistoryStore::add(const RunRecord& record) const {
  const std::filesystem::path dir = folder(record.id);
  try {
    save_run_record(record, dir);
    if (!record.image.isNull()) {
      const QImage thumb = record.image.scaled(kThumbnailSize, kThumbnailSize, Qt::KeepAspectRatio,
                                               Qt::SmoothTransformation);
      const std::filesystem::path path = dir / kThumbnailFile;
      if (!thumb.save(QString::fromStdString(path.string()), "PNG"))
        throw FileError(path.string(), "cannot write the thumbnail (is the disk full?)");
    }
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    throw;
  }
}

std::vector<HistoryEntry> HistoryStore::list(std::vector<QString>* problems) const {
  std::vector<HistoryEntry> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(root_, ec))
    return out;
  for (const auto& item : std::filesystem::directory_iterator(root_, ec)) {
    if (!item.is_directory())
      continue;
    try {
      const RunRecord record = load_run_record(item.path());
      QImage thumb;
      thumb.load(QString::fromStdString((item.path() / kThumbnailFile).string()), "PNG");
      if (thumb.isNull() && !record.image.isNull()) {
        thumb = record.image.scaled(kThumbnailSize, kThumbnailSize, Qt::KeepAspectRatio,
                                    Qt::SmoothTransformation);
      }
      out.push_back(entry_of(record, std::move(thumb)));
    } catch (const std::exception& e) {
      if (problems)
        problems->push_back(QString::fromStdString(e.what()));
    }
  }
  std::sort(out.begin(), out.end(), [](const HistoryEntry& a, const HistoryEntry& b) {
    return a.started != b.started ? a.started > b.started : a.id > b.id;
  });
  return out;
}

RunRecord HistoryStore::load(const QString& id) const {
  return load_run_record(folder(id));
}

bool HistoryStore::remove(const QString& id) const {
  const std::filesystem::path dir = folder(id);
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec))
    return false;
  std::filesystem::remove_all(dir, ec);
  if (ec)
    throw FileError(dir.string(), "cannot delete the run: " + ec.message());
  return true;
}

}  // namespace xdit::ui
