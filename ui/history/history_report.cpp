#include "ui/history/history_report.hpp"

#include <algorithm>

#include "bench/statistics.hpp"
#include "core/build_info.hpp"
#include "workers/generate_settings.hpp"
#include "workers/group_figures.hpp"
#include "workers/sweep_runner.hpp"
#include "workers/sweep_spec.hpp"

namespace xdit::ui {
namespace {

nlohmann::ordered_json row_of(const RunRecord& record) {
  workers::GroupSpec serial = record.spec;
  serial.parallel = {};
  serial.world_size = 1;
  serial.gpus.clear();
  const std::string flags =
      workers::join_command_line(workers::generate_words(record.spec, record.request));
  nlohmann::ordered_json row;
  row["flags"] = flags;
  row["command"] = "xdit generate " + flags;
  row["reference"] = workers::join_command_line(workers::generate_words(serial, record.request));
  row["model"] = record.spec.model;
  row["height"] = record.image.isNull() ? record.request.height : record.image.height();
  row["width"] = record.image.isNull() ? record.request.width : record.image.width();
  row["steps"] = record.request.num_inference_steps;
  row["device"] = record.spec.device;
  row["dtype"] = record.spec.dtype;
  row["world_size"] = record.spec.world_size;
  row["mesh"] = record.spec.parallel.label();
  row["parallel"] = workers::to_json(record.spec.parallel);
  row["started"] = record.started.toString(Qt::ISODate).toStdString();
  if (!record.error.isEmpty() || record.metrics.empty()) {
    row["status"] = "failed";
    row["reason"] = record.error.isEmpty() ? "no figures recorded" : record.error.toStdString();
    return row;
  }
  row["status"] = "ok";
  row["step_seconds"] = bench::to_json(bench::spread_of(workers::slowest_steps(record.metrics)));
  row["run_seconds"] = bench::to_json(bench::spread_of({record.total_seconds}));
  nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
  for (const workers::MetricsMessage& m : record.metrics) {
    const double steps = std::max<double>(1, static_cast<double>(m.step_seconds.size()));
    double parameters = 0;
    for (const workers::ReadyMessage& ready : record.ready) {
      if (ready.rank == m.rank)
        parameters = static_cast<double>(ready.transformer_parameter_bytes);
    }
    ranks.push_back(workers::to_json(
        workers::RankRow{m.rank, bench::median(m.step_seconds),
                         workers::comm_counter(m.comm, "wait_seconds") / steps,
                         workers::comm_counter(m.comm, "bytes_sent") / steps, parameters,
                         static_cast<double>(workers::peak_bytes(m.memory)),
                         m.memory.gpu ? m.memory.gpu->label() : std::string()}));
  }
  row["ranks"] = ranks;
  return row;
}

}  // namespace

report::SweepReport history_report(const std::vector<RunRecord>& records) {
  report::SweepReport out;
  out.title = "xDiT Studio history";
  out.environment = {{"xdit", xdit_version()},
                     {"git_revision", git_revision()},
                     {"torch", torch_version()},
                     {"source", "xDiT Studio history, " + std::to_string(records.size()) +
                                    " run(s): figures as the Studio recorded them (one request "
                                    "each, no warm-up)"}};
  if (!cuda_version().empty()) {
    out.environment["cuda"] = cuda_version();
    out.environment["nccl"] = nccl_version();
  }
  std::vector<RunRecord> oldest_first = records;
  std::sort(oldest_first.begin(), oldest_first.end(),
            [](const RunRecord& a, const RunRecord& b) { return a.started < b.started; });
  for (const RunRecord& record : oldest_first)
    out.rows.push_back(row_of(record));
  return out;
}

}  // namespace xdit::ui
