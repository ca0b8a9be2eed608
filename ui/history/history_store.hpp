#pragma once
// Past runs on disk, one folder each: <root>/<id>/record.json, image.png and
// thumb.png (the image scaled for lists). The root is
// <AppDataLocation>/history unless given. Plain file work, no widgets: the
// HistoryPanel calls it from a pool thread, never the GUI thread.

#include <QDateTime>
#include <QImage>
#include <QString>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "ui/run_record.hpp"

namespace xdit::ui {

// What a list shows of a run, without its messages.
struct HistoryEntry {
  QString id;
  QDateTime started;
  QString summary;  // settings_summary()
  double seconds_per_step = 0;
  int64_t peak_memory_bytes = 0;
  double total_seconds = 0;
  QString error;
  QImage thumbnail;  // null without an image
};

inline constexpr int kThumbnailSize = 96;
inline constexpr const char* kThumbnailFile = "thumb.png";

class HistoryStore {
 public:
  // QStandardPaths::AppDataLocation/history.
  static std::filesystem::path default_root();

  explicit HistoryStore(std::filesystem::path root = default_root());
  const std::filesystem::path& root() const { return root_; }

  // Writes the run's folder (replacing one with the same id); FileError
  // naming the file when the disk refuses (then nothing is left behind).
  void add(const RunRecord& record) const;
  // Newest first. Folders that are not readable records are skipped, and
  // named in `problems` when given.
  std::vector<HistoryEntry> list(std::vector<QString>* problems = nullptr) const;
  // FileError/ConfigError naming the file when the run is gone or unreadable.
  RunRecord load(const QString& id) const;
  // False when there was no such run. FileError when it cannot be removed.
  bool remove(const QString& id) const;

  static HistoryEntry entry_of(const RunRecord& record, QImage thumbnail);

 private:
  std::filesystem::path folder(const QString& id) const;

  std::filesystem::path root_;
};

}  // namespace xdit::ui
