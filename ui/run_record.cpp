#include "ui/run_record.hpp"

#include <QRandomGenerator>
#include <algorithm>
#include <fstream>
#include <system_error>

#include "core/error.hpp"
#include "io/config.hpp"
#include "workers/worker_error.hpp"

namespace xdit::ui {
namespace {

using nlohmann::json;

// The record keeps the messages as the control protocol writes them, so the
// history needs no second format that could drift from the workers'.
template <typename T>
json messages_to_json(const std::vector<T>& messages) {
  json out = json::array();
  for (const T& m : messages)
    out.push_back(json::parse(workers::encode(m)));
  return out;
}

template <typename T>
std::vector<T> messages_from_json(const io::Config& c, const char* key) {
  std::vector<T> out;
  if (!c.has(key))
    return out;
  const json& list = c.json().at(key);
  if (!list.is_array())
    throw ConfigError(c.source(), key, "is not a list of messages");
  for (const json& item : list) {
    try {
      workers::Message message = workers::decode(item.dump());
      T* typed = std::get_if<T>(&message);
      if (!typed) {
        throw ConfigError(c.source(), key,
                          "holds a '" + std::string(workers::message_name(message)) + "' message");
      }
      out.push_back(std::move(*typed));
    } catch (const workers::ProtocolError& e) {
      throw ConfigError(c.source(), key, e.what());
    }
  }
  return out;
}

int64_t peak_of(const workers::MemorySample& m) {
  return std::max(m.rss_bytes, m.peak_rss_bytes);
}

}  // namespace

QString new_run_id(const QDateTime& when) {
  const quint32 salt = QRandomGenerator::global()->bounded(0x10000u);
  return when.toUTC().toString(QStringLiteral("yyyyMMdd-HHmmss-zzz-")) +
         QStringLiteral("%1").arg(salt, 4, 16, QLatin1Char('0'));
}

double seconds_per_step(const RunRecord& record) {
  double sum = 0;
  int64_t count = 0;
  for (const workers::MetricsMessage& m : record.metrics) {
    for (double s : m.step_seconds) {
      sum += s;
      ++count;
    }
  }
  // A failed or cancelled run has no metrics, only the steps it got through.
  if (count == 0) {
    for (const workers::ProgressMessage& p : record.progress) {
      sum += p.seconds;
      ++count;
    }
  }
  return count ? sum / static_cast<double>(count) : 0.0;
}

int64_t peak_memory_bytes(const RunRecord& record) {
  int64_t peak = 0;
  for (const auto& m : record.ready)
    peak = std::max(peak, peak_of(m.memory));
  for (const auto& m : record.progress)
    peak = std::max(peak, peak_of(m.memory));
  for (const auto& m : record.metrics)
    peak = std::max(peak, peak_of(m.memory));
  return peak;
}

QString bytes_text(int64_t bytes) {
  constexpr double kMiB = 1024.0 * 1024.0;
  const double mib = static_cast<double>(bytes) / kMiB;
  return mib >= 1024.0 ? QStringLiteral("%1 GiB").arg(mib / 1024.0, 0, 'f', 2)
                       : QStringLiteral("%1 MiB").arg(mib, 0, 'f', 0);
}

QString settings_summary(const RunRecord& record) {
  const auto& r = record.request;
  QString size = r.width && r.height ? QStringLiteral("%1×%2").arg(r.width).arg(r.height)
                                     : QStringLiteral("default size");
  const auto& p = record.spec.parallel;
  QStringList degrees;
  const std::pair<const char*, int> named[] = {
      {"data", p.data_degree},       {"cfg", p.cfg_degree},   {"pipefusion", p.pipefusion_degree},
      {"ulysses", p.ulysses_degree}, {"ring", p.ring_degree}, {"tensor", p.tensor_degree}};
  for (const auto& [name, degree] : named) {
    if (degree > 1)
      degrees << QStringLiteral("%1 %2").arg(QLatin1String(name)).arg(degree);
  }
  QString ranks = QStringLiteral("%1 rank%2")
                      .arg(record.spec.world_size)
                      .arg(record.spec.world_size == 1 ? "" : "s");
  if (!degrees.isEmpty())
    ranks += QStringLiteral(" (") + degrees.join(QStringLiteral(", ")) + QStringLiteral(")");
  const QString guidance =
      r.guidance_scale ? QString::number(*r.guidance_scale) : QStringLiteral("model's default");
  return QStringLiteral("%1, %2 steps, guidance %3, seed %4, %5")
      .arg(size)
      .arg(r.num_inference_steps)
      .arg(guidance)
      .arg(r.seed)
      .arg(ranks);
}

json to_json(const RunRecord& record, const std::string& image_file) {
  return {{"id", record.id.toStdString()},
          {"started", record.started.toUTC().toString(Qt::ISODateWithMs).toStdString()},
          {"spec", workers::to_json(record.spec)},
          {"request", pipelines::to_json(record.request)},
          {"image", image_file},
          {"ready", messages_to_json(record.ready)},
          {"progress", messages_to_json(record.progress)},
          {"metrics", messages_to_json(record.metrics)},
          {"total_seconds", record.total_seconds},
          {"error", record.error.toStdString()}};
}

RunRecord run_record_from_json(const json& json, const std::string& source) {
  const io::Config c(json, source);
  RunRecord record;
  record.id = QString::fromStdString(c.get<std::string>("id"));
  const std::string started = c.get<std::string>("started");
  record.started = QDateTime::fromString(QString::fromStdString(started), Qt::ISODateWithMs);
  if (!record.started.isValid())
    throw ConfigError(source, "started", "'" + started + "' is not an ISO 8601 date and time");
  const io::Config spec = c.child("spec");
  record.spec = workers::group_spec_from_json(spec.json(), spec.source());
  const io::Config request = c.child("request");
  record.request = pipelines::request_from_json(request.json(), request.source());
  record.ready = messages_from_json<workers::ReadyMessage>(c, "ready");
  record.progress = messages_from_json<workers::ProgressMessage>(c, "progress");
  record.metrics = messages_from_json<workers::MetricsMessage>(c, "metrics");
  record.total_seconds = c.get_or<double>("total_seconds", 0.0);
  record.error = QString::fromStdString(c.get_or<std::string>("error", ""));
  return record;
}

void save_run_record(const RunRecord& record, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw FileError(dir.string(), "cannot create the folder: " + ec.message());
  std::string image_file;
  if (!record.image.isNull()) {
    const std::filesystem::path image = dir / kImageFile;
    if (!record.image.save(QString::fromStdString(image.string()), "PNG"))
      throw FileError(image.string(), "cannot write the image (is the disk full?)");
    image_file = kImageFile;
  }
  // Written aside and renamed, so a full disk never leaves half a record.
  const std::filesystem::path path = dir / kRecordFile;
  const std::filesystem::path part = dir / (std::string(kRecordFile) + ".part");
  {
    std::ofstream out(part, std::ios::binary | std::ios::trunc);
    out << to_json(record, image_file).dump(1) << '\n';
    out.close();
    if (!out)
      throw FileError(part.string(), "cannot write the run record (is the disk full?)");
  }
  std::filesystem::rename(part, path, ec);
  if (ec)
    throw FileError(path.string(), "cannot replace the run record: " + ec.message());
}

RunRecord load_run_record(const std::filesystem::path& dir) {
  const io::Config c = io::Config::from_file(dir / kRecordFile);
  RunRecord record = run_record_from_json(c.json(), c.source());
  const std::string image_file = c.get_or<std::string>("image", "");
  if (!image_file.empty()) {
    const std::filesystem::path image = dir / image_file;
    if (!record.image.load(QString::fromStdString(image.string()), "PNG"))
      throw FileError(image.string(), "the run's image is missing or not a PNG");
  }
  return record;
}

}  // namespace xdit::ui
