#pragma once
// One generation as the Studio remembers it: what was asked (group spec and
// request), what came back (image, per-rank ready/progress/metrics messages)
// and how it ended. The run controller emits it when a run ends; the history
// keeps it on disk as <dir>/record.json with the image beside it as PNG.

#include <QDateTime>
#include <QImage>
#include <QMetaType>
#include <QString>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipelines/generation.hpp"
#include "workers/control_protocol.hpp"
#include "workers/group_spec.hpp"

namespace xdit::ui {

struct RunRecord {
  QString id;
  QDateTime started;
  workers::GroupSpec spec;
  pipelines::GenerationRequest request;
  QImage image;  // null when the run failed or did not decode
  std::vector<workers::ReadyMessage> ready;
  std::vector<workers::ProgressMessage> progress;
  std::vector<workers::MetricsMessage> metrics;
  double total_seconds = 0;
  QString error;  // empty: the run succeeded
};

// "20261126-065012-3f2a": sortable by time, unique enough for one user's runs.
QString new_run_id(const QDateTime& when);

// Mean seconds per denoising step over every rank's steps; 0 without any.
double seconds_per_step(const RunRecord& record);
// The highest peak RSS any rank reported (ready, progress or metrics); 0 without any.
int64_t peak_memory_bytes(const RunRecord& record);
// "512 MiB", "1.4 GiB": memory for people.
QString bytes_text(int64_t bytes);
// "256×256, 20 steps, cfg 4.5, seed 42, 2 ranks (ulysses 2)": one line for lists.
QString settings_summary(const RunRecord& record);

// Everything but the image; `image_file` names the PNG beside the JSON
// (empty: none).
nlohmann::json to_json(const RunRecord& record, const std::string& image_file);
// ConfigError naming `source` and the key when `json` is not a record; the
// image is left null (see load_run_record).
RunRecord run_record_from_json(const nlohmann::json& json, const std::string& source);

inline constexpr const char* kRecordFile = "record.json";
inline constexpr const char* kImageFile = "image.png";

// Writes <dir>/record.json and, when there is an image, <dir>/image.png,
// creating `dir`. FileError naming the file when the disk refuses.
void save_run_record(const RunRecord& record, const std::filesystem::path& dir);
// FileError/ConfigError naming the file when it is missing or not a record.
RunRecord load_run_record(const std::filesystem::path& dir);

}  // namespace xdit::ui

Q_DECLARE_METATYPE(xdit::ui::RunRecord)
