#include "workers/sweep_runner.hpp"

#include <ATen/ATen.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "bench/image_quality.hpp"
#include "bench/statistics.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "io/atomic_write.hpp"
#include "io/png_image.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "plan/planner.hpp"
#include "workers/group_figures.hpp"
#include "workers/launcher.hpp"

namespace xdit::workers {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A stable name for a row's files: FNV-1a of its flags.
std::string file_stem(const std::string& flags) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : flags) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char text[24];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

std::filesystem::path image_path(const std::filesystem::path& results, const std::string& flags,
                                 int64_t index) {
  return std::filesystem::path(results.string() + ".images") /
         (file_stem(flags) + "-" + std::to_string(index) + ".png");
}

int threads_of(const SweepRow& row) {
  if (row.threads > 0)
    return row.threads;
  return row.nproc == 1 ? available_cores() : 1;  // as `xdit generate`
}

// What every result says about its row, run or not.
nlohmann::ordered_json describe(const SweepRow& row) {
  const auto& request = row.settings.request;
  const auto& group = row.settings.group;
  nlohmann::ordered_json j;
  j["flags"] = row.flags;
  j["command"] = row.command();
  j["reference"] = row.reference_flags;
  j["model"] = group.model;
  j["height"] = request.height;
  j["width"] = request.width;
  j["steps"] = request.num_inference_steps;
  j["images"] = static_cast<int64_t>(request.prompts.size()) * request.images_per_prompt;
  j["device"] = group.device;
  j["dtype"] = group.dtype;
  j["world_size"] = row.nproc;
  j["threads_per_rank"] = threads_of(row);
  j["mesh"] = group.parallel.label();
  j["parallel"] = to_json(group.parallel);
  return j;
}

// What the planner predicts for the row: the cost model's bytes and the
// memory always, the seconds with a calibration.
void add_prediction(nlohmann::ordered_json& j, const SweepRow& row,
                    const std::optional<plan::Calibration>& calibration) {
  const io::ModelFolder folder(pipelines::resolve_model(row.settings.group.model),
                               row.settings.group.variant);
  plan::PlanRequest request;
  request.request = row.settings.request;
  request.devices = row.nproc;
  request.dtype = row.settings.group.pipeline_options().dtype;
  request.flops_per_second = calibration ? calibration->flops_per_second : 1;
  if (calibration) {
    plan::use_calibration(*calibration, request);
    request.link = calibration->link;
  }
  const plan::PlannedMesh mesh = plan::predict_mesh(folder, request, row.settings.group.parallel);
  j["cost_model"] = {{"bytes_sent_per_step", mesh.bytes_sent_per_step},
                     {"memory_per_rank_bytes", mesh.memory_per_rank_bytes}};
  if (calibration) {
    j["predicted"] = {{"seconds_per_step", mesh.seconds_per_step},
                      {"compute_seconds", mesh.compute_seconds},
                      {"comm_seconds", mesh.comm_seconds},
                      {"hidden_seconds", mesh.hidden_seconds}};
  }
}

struct RankFigures {
  std::vector<double> step_seconds;  // every timed step
  std::vector<double> sent;          // per timed step
  std::vector<double> wait;
  double peak_memory = 0;
  std::string gpu;  // the GPU's label where the rank computes on one
  double parameter_bytes = 0;
};

class RowRun {
 public:
  RowRun(const SweepRow& row, const SweepSpec& spec, const SweepOptions& options,
         std::function<void()> on_step)
      : row_(row), spec_(spec), options_(options), on_step_(std::move(on_step)) {}

  // `refusal`: why the row cannot run (refusal_of), if it cannot.
  nlohmann::ordered_json run(const std::filesystem::path& log_dir,
                             const std::optional<std::string>& refusal) {
    nlohmann::ordered_json j = describe(row_);
    if (refusal) {
      j["status"] = "refused";
      j["reason"] = *refusal;
      return j;
    }
    try {
      measure(j, log_dir);
    } catch (const Error& e) {
      j["status"] = "failed";
      j["reason"] = e.what();
      return j;
    }
    try {
      add_prediction(j, row_, options_.calibration);
    } catch (const Error& e) {
      j["cost_model"] = {{"error", e.what()}};
    }
    return j;
  }

 private:
  void measure(nlohmann::ordered_json& j, const std::filesystem::path& log_dir) {
    LaunchOptions launch;
    launch.threads_per_worker = threads_of(row_);
    launch.log_dir = log_dir;
    Launcher group(row_.settings.group, launch);
    ranks_.assign(static_cast<size_t>(row_.nproc), RankFigures{});
    GroupCallbacks ready;
    ready.on_ready = [&](const ReadyMessage& m) {
      ranks_.at(m.rank).parameter_bytes = static_cast<double>(m.transformer_parameter_bytes);
    };
    group.wait_ready(ready);

    GroupCallbacks untimed;
    untimed.on_progress = [&](const ProgressMessage& m) {
      if (m.rank == 0)
        on_step_();
    };
    for (int i = 0; i < spec_.warmup_runs; ++i)
      group.generate(row_.settings.request, untimed);

    std::vector<double> run_seconds, step_seconds;
    double encode = 0, decode = 0, cpu = 0, wall = 0;
    GroupResult last;
    for (int i = 0; i < spec_.repeats; ++i) {
      GroupCallbacks timed;
      timed.on_progress = [&](const ProgressMessage& m) {
        RankFigures& rank = ranks_.at(m.rank);
        rank.sent.push_back(comm_counter(m.comm, "bytes_sent"));
        rank.wait.push_back(comm_counter(m.comm, "wait_seconds"));
        if (m.rank == 0)
          on_step_();
      };
      const double cpu_before = group_cpu_seconds(group);
      const auto start = Clock::now();
      last = group.generate(row_.settings.request, timed);
      run_seconds.push_back(seconds_since(start));
      wall += run_seconds.back();
      cpu += group_cpu_seconds(group) - cpu_before;
      const std::vector<double> slowest = slowest_steps(last.metrics);
      step_seconds.insert(step_seconds.end(), slowest.begin(), slowest.end());
      for (const MetricsMessage& m : last.metrics) {
        RankFigures& rank = ranks_.at(m.rank);
        rank.step_seconds.insert(rank.step_seconds.end(), m.step_seconds.begin(),
                                 m.step_seconds.end());
        rank.peak_memory = std::max(rank.peak_memory, static_cast<double>(peak_bytes(m.memory)));
        if (m.memory.gpu)
          rank.gpu = m.memory.gpu->label();
      }
      encode += last.metrics.front().encode_seconds / spec_.repeats;
      decode += last.metrics.front().decode_seconds / spec_.repeats;
    }
    group.stop();

    j["status"] = "ok";
    j["step_seconds"] = bench::to_json(bench::spread_of(step_seconds));
    j["run_seconds"] = bench::to_json(bench::spread_of(run_seconds));
    j["encode_seconds"] = encode;
    j["decode_seconds"] = decode;
    j["cores_used"] = cpu / wall;
    j["height"] = last.result.height;
    j["width"] = last.result.width;
    nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
    for (size_t r = 0; r < ranks_.size(); ++r) {
      const RankFigures& f = ranks_[r];
      ranks.push_back(
          to_json(RankRow{static_cast<int>(r), bench::median(f.step_seconds), bench::median(f.wait),
                          bench::median(f.sent), f.parameter_bytes, f.peak_memory, f.gpu}));
    }
    j["ranks"] = ranks;
    record_images(j, last.result.images);
  }

  // A serial row keeps its images as the reference; a parallel row is
  // compared with its reference's, where that row ran.
  void record_images(nlohmann::ordered_json& j, const at::Tensor& images) {
    if (!images.defined())
      return;
    const int64_t count = images.size(0);
    if (row_.serial()) {
      std::filesystem::create_directories(
          image_path(options_.results, row_.flags, 0).parent_path());
      for (int64_t i = 0; i < count; ++i)
        io::write_png(image_path(options_.results, row_.flags, i), images[i]);
      return;
    }
    std::vector<at::Tensor> reference;
    for (int64_t i = 0; i < count; ++i) {
      const auto path = image_path(options_.results, row_.reference_flags, i);
      if (!std::filesystem::exists(path))
        return;  // the reference row did not run
      reference.push_back(io::read_png(path).rgb);
    }
    const at::Tensor expected = at::stack(reference);
    if (!expected.sizes().equals(images.sizes()))
      return;
    const bench::ImageDifference difference = bench::compare_images(images, expected);
    j["quality"] = {
        {"reference", row_.reference_flags},
        {"max_abs_levels", difference.max_abs},
        {"psnr_db", std::isinf(difference.psnr_db) ? nlohmann::ordered_json(nullptr)
                                                   : nlohmann::ordered_json(difference.psnr_db)},
        {"identical", difference.max_abs == 0}};
  }

  const SweepRow& row_;
  const SweepSpec& spec_;
  const SweepOptions& options_;
  std::function<void()> on_step_;
  std::vector<RankFigures> ranks_;
};

// Why `row` cannot run, as the launcher would refuse it (the model folder,
// the degrees against the model and request), before any process starts.
std::optional<std::string> refusal_of(const SweepRow& row) {
  try {
    const GroupSpec& spec = row.settings.group;
    const io::ModelFolder folder(pipelines::resolve_model(spec.model), spec.variant);
    parallel::validate(spec.parallel, row.nproc,
                       pipelines::model_facts(folder, row.settings.request));
  } catch (const Error& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

void append_line(const std::filesystem::path& path, const nlohmann::ordered_json& json) {
  std::ofstream out(path, std::ios::app);
  out << json.dump() << '\n';
  out.flush();
  if (!out)
    throw FileError(path.string(), "cannot append the sweep's result");
}

}  // namespace

nlohmann::ordered_json to_json(const RankRow& r) {
  nlohmann::ordered_json rank = {
      {"rank", r.rank},
      {"seconds_per_step", r.seconds_per_step},
      {"compute_seconds_per_step", r.seconds_per_step - r.comm_wait_seconds_per_step},
      {"comm_wait_seconds_per_step", r.comm_wait_seconds_per_step},
      {"bytes_sent_per_step", r.bytes_sent_per_step},
      {"parameter_bytes", r.parameter_bytes},
      {"peak_memory_bytes", r.peak_memory_bytes},
      {"memory", r.gpu.empty() ? "rss" : "gpu"}};
  if (!r.gpu.empty())
    rank["gpu"] = r.gpu;
  return rank;
}

SweepResults read_sweep_results(const std::filesystem::path& path) {
  SweepResults results;
  std::ifstream in(path);
  if (!in)
    return results;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty())
      lines.push_back(line);
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    nlohmann::ordered_json json;
    try {
      json = nlohmann::ordered_json::parse(lines[i]);
    } catch (const nlohmann::json::parse_error&) {
      if (i + 1 == lines.size()) {
        results.cut_short = true;  // by a killed sweep: that row runs again
        break;
      }
      throw ConfigError(path.string(), "line " + std::to_string(i + 1), "is not JSON");
    }
    if (i == 0 && json.contains("format")) {
      if (json["format"] != "xdit-sweep/1")
        throw ConfigError(path.string(), "format", "is not xdit-sweep/1");
      results.header = json;
    } else {
      results.rows.push_back(json);
    }
  }
  return results;
}

std::vector<nlohmann::ordered_json> run_sweep(const std::vector<SweepRow>& rows,
                                              const SweepSpec& spec,
                                              const nlohmann::ordered_json& environment,
                                              const SweepOptions& options,
                                              const SweepCallbacks& callbacks) {
  SweepResults existing = read_sweep_results(options.results);
  const bool fresh = existing.header.is_null();
  if (fresh) {
    if (!existing.rows.empty())
      throw ConfigError(options.results.string(), "line 1", "is not a sweep's header");
    existing.header = {
        {"format", "xdit-sweep/1"}, {"environment", environment}, {"spec", to_json(spec)}};
    if (options.results.has_parent_path())
      std::filesystem::create_directories(options.results.parent_path());
  }
  if (fresh || existing.cut_short) {
    // The header and the whole rows: a file cut short (before its header, or
    // in its last row) loses the broken line, so rows appended next stay
    // readable.
    std::string text = existing.header.dump() + '\n';
    for (const auto& row : existing.rows)
      text += row.dump() + '\n';
    io::write_file_atomically(options.results, {text});
  }
  std::map<std::string, nlohmann::ordered_json> done;
  for (auto& row : existing.rows)
    done[row.value("flags", "")] = row;

  SweepProgress progress;
  progress.rows = rows.size();
  std::map<std::string, std::optional<std::string>> refusals;
  for (const SweepRow& row : rows) {
    if (done.count(row.flags))
      continue;
    refusals[row.flags] = refusal_of(row);
    if (!refusals[row.flags])
      progress.steps_total +=
          (spec.warmup_runs + spec.repeats) * row.settings.request.num_inference_steps;
  }
  const auto start = Clock::now();
  const auto log_root =
      std::filesystem::temp_directory_path() / ("xdit-sweep-" + std::to_string(::getpid()));
  const auto on_step = [&] {
    ++progress.steps_done;
    progress.elapsed_seconds = seconds_since(start);
    progress.eta_seconds = progress.elapsed_seconds / static_cast<double>(progress.steps_done) *
                           static_cast<double>(progress.steps_total - progress.steps_done);
    if (callbacks.on_progress)
      callbacks.on_progress(progress);
  };

  std::vector<nlohmann::ordered_json> results;
  for (size_t i = 0; i < rows.size(); ++i) {
    const SweepRow& row = rows[i];
    const auto found = done.find(row.flags);
    if (found != done.end()) {
      results.push_back(found->second);
      continue;
    }
    if (options.stop_requested && options.stop_requested())
      break;
    progress.row = i;
    progress.eta_seconds = progress.steps_done ? progress.eta_seconds : kNaN;
    if (callbacks.on_row_start)
      callbacks.on_row_start(row, i, rows.size());
    RowRun run(row, spec, options, on_step);
    const int64_t before = progress.steps_done;
    const std::optional<std::string>& refusal = refusals.at(row.flags);
    nlohmann::ordered_json result = run.run(log_root / file_stem(row.flags), refusal);
    // A row that failed part way leaves the rest of its steps undone.
    if (!refusal) {
      progress.steps_total -=
          (spec.warmup_runs + spec.repeats) * row.settings.request.num_inference_steps -
          (progress.steps_done - before);
    }
    append_line(options.results, result);
    results.push_back(result);
    if (callbacks.on_row)
      callbacks.on_row(result);
  }
  std::error_code ignored;
  std::filesystem::remove_all(log_root, ignored);
  return results;
}

}  // namespace xdit::workers
