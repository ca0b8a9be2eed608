#include "workers/method_bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>

#include "bench/statistics.hpp"
#include "core/error.hpp"
#include "io/model_folder.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "workers/group_figures.hpp"
#include "workers/launcher.hpp"

namespace xdit::workers {
namespace {

using bench::ParallelMethod;

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kBenchRanks = 2;

MethodCase row(std::string name, std::string label, ParallelMethod method,
               parallel::ParallelConfig config, int world_size = kBenchRanks) {
  MethodCase c;
  c.name = std::move(name);
  c.label = std::move(label);
  c.method = method;
  c.parallel = std::move(config);
  c.world_size = world_size;
  return c;
}

std::vector<MethodCase> make_cases() {
  using Config = parallel::ParallelConfig;
  // The serial baseline uses both cores as one process (its best thread
  // count: the faster of this row and the next).
  MethodCase serial = row("method_serial", "serial, 2 threads", ParallelMethod::kSerial, {}, 1);
  serial.threads_per_worker = 2;
  std::vector<MethodCase> cases = {
      serial,
      row("method_serial_1core", "serial, 1 core", ParallelMethod::kSerial, {}, 1),
  };
  Config cfg;
  cfg.cfg_degree = 2;
  MethodCase cfg_row = row("method_cfg2", "cfg 2", ParallelMethod::kCfg, cfg);
  cfg_row.may_be_unavailable = true;  // a guidance-distilled model (Flux dev) has one branch
  cases.push_back(cfg_row);
  Config ulysses;
  ulysses.ulysses_degree = 2;
  cases.push_back(row("method_ulysses2", "ulysses 2", ParallelMethod::kUlysses, ulysses));
  Config ring;
  ring.ring_degree = 2;
  cases.push_back(row("method_ring2", "ring 2", ParallelMethod::kRing, ring));
  Config tensor;
  tensor.tensor_degree = 2;
  cases.push_back(row("method_tensor2", "tensor 2", ParallelMethod::kTensor, tensor));
  Config data;
  data.data_degree = 2;
  MethodCase data_row = row("method_data2", "data 2 (2 images)", ParallelMethod::kData, data);
  data_row.images = 2;
  cases.push_back(data_row);
  // Stale activations after one synchronous warm-up step.
  Config pipefusion;
  pipefusion.pipefusion_degree = 2;
  pipefusion.num_pipeline_patch = 4;
  MethodCase pipefusion_row =
      row("method_pipefusion2", "pipefusion 2, 4 patches", ParallelMethod::kPipeFusion, pipefusion);
  cases.push_back(pipefusion_row);
  Config distrifusion;
  distrifusion.distrifusion_degree = 2;
  MethodCase distrifusion_row =
      row("method_distrifusion2", "distrifusion 2", ParallelMethod::kDistriFusion, distrifusion);
  cases.push_back(distrifusion_row);
  return cases;
}

// `text_tokens`: an MMDiT's T5 length, unset for the model's default.
pipelines::GenerationRequest make_request(const MethodCase& c, int64_t steps, uint64_t seed,
                                          std::optional<int64_t> text_tokens) {
  pipelines::GenerationRequest request;
  request.prompts = {"a lighthouse on a cliff at dawn"};
  request.images_per_prompt = c.images;
  request.num_inference_steps = steps;
  request.seed = seed;
  // 512 px: the bench models' own size (1024 image tokens).
  request.height = 512;
  request.width = 512;
  request.max_sequence_length = text_tokens;
  request.use_resolution_binning = false;
  request.decode = false;  // the VAE is not what is compared
  return request;
}

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values)
    sum += v;
  return values.empty() ? kNaN : sum / static_cast<double>(values.size());
}

double largest(const std::vector<double>& values) {
  return values.empty() ? kNaN : *std::max_element(values.begin(), values.end());
}

// What one group measured, by rank.
struct Measurement {
  std::vector<double> step_seconds;  // counted steps, slowest rank of each
  // Bytes by rank, the median of the counted steps: a method's steady state,
  // not the last step, which may start no exchange for a next one (the stale
  // methods).
  std::vector<double> sent_per_step;
  std::vector<double> wait_per_step;          // seconds blocked in communication, by rank (median)
  std::vector<double> request_sent_per_step;  // bytes of the whole request / steps, by rank
  std::vector<double> parameter_bytes;        // by rank
  std::vector<double> peak_rss_bytes;         // by rank
  // CPU seconds of all ranks over the timed request's wall seconds: the
  // cores the group had (its ranks' threads, when the machine is idle).
  double cores_used = 0;
  // CPU seconds of one rank per step (the timed request's, all ranks, over
  // its steps and ranks): the work a rank does, whatever share of the cores
  // the group got.
  double cpu_per_rank_step = 0;
  bench::StepShape shape;
};

Measurement measure(const MethodCase& c, const MethodBenchSettings& settings,
                    const std::filesystem::path& log_dir) {
  GroupSpec spec;
  spec.model = settings.model;
  spec.parallel = c.parallel;
  spec.world_size = c.world_size;
  LaunchOptions launch;
  launch.threads_per_worker = c.threads_per_worker;
  launch.log_dir = log_dir / c.name;
  Launcher group(spec, launch);

  const auto ranks = static_cast<size_t>(c.world_size);
  Measurement m;
  m.parameter_bytes.assign(ranks, 0);
  GroupCallbacks ready;
  ready.on_ready = [&](const ReadyMessage& message) {
    m.parameter_bytes.at(message.rank) = static_cast<double>(message.transformer_parameter_bytes);
  };
  group.wait_ready(ready);

  // An MMDiT's text stream scaled with the image: Flux.1 at 1024 px carries
  // 512 T5 tokens beside 4096 image tokens, so 128 beside these 1024.
  const io::ModelFolder folder(group.spec().model);
  const std::optional<int64_t> text_tokens =
      pipelines::pipeline_kind(folder) == pipelines::PipelineKind::kFlux
          ? std::optional<int64_t>(128)
          : std::nullopt;
  for (int i = 0; i < settings.warmup_requests; ++i)
    group.generate(make_request(c, settings.warmup_steps, settings.seed, text_tokens));

  const int64_t steps = settings.counted_steps + 1;
  const pipelines::GenerationRequest request = make_request(c, steps, settings.seed, text_tokens);
  std::vector<std::vector<double>> sent(ranks), wait(ranks);
  GroupCallbacks timed;
  timed.on_progress = [&](const ProgressMessage& message) {
    if (message.step < 2)
      return;  // the uncounted first step (it also carries the text encoding's traffic)
    sent.at(message.rank).push_back(comm_counter(message.comm, "bytes_sent"));
    wait.at(message.rank).push_back(comm_counter(message.comm, "wait_seconds"));
  };
  const double cpu_before = group_cpu_seconds(group);
  const auto wall_start = std::chrono::steady_clock::now();
  const GroupResult result = group.generate(request, timed);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  const double cpu = group_cpu_seconds(group) - cpu_before;
  m.cores_used = cpu / wall;
  m.cpu_per_rank_step = cpu / static_cast<double>(steps * c.world_size);
  group.stop();

  const std::vector<double> slowest = slowest_steps(result.metrics);
  m.step_seconds.assign(slowest.begin() + 1, slowest.end());  // the first is not counted
  for (size_t r = 0; r < ranks; ++r) {
    const MetricsMessage& metrics = result.metrics[r];
    m.sent_per_step.push_back(bench::median(sent[r]));
    m.wait_per_step.push_back(bench::median(wait[r]));
    m.request_sent_per_step.push_back(comm_counter(metrics.comm, "bytes_sent") /
                                      static_cast<double>(steps));
    m.peak_rss_bytes.push_back(static_cast<double>(metrics.memory.peak_rss_bytes));
  }

  m.shape = bench::step_shape(
      pipelines::transformer_facts(folder), pipelines::model_facts(folder, request),
      pipelines::text_stream_tokens(folder, request), c.parallel.pipeline_patches(),
      c.parallel.data_degree,
      static_cast<int64_t>(c10::elementSize(spec.pipeline_options().dtype)));
  return m;
}

std::string shape_text(const bench::StepShape& s) {
  return std::to_string(s.layers) + " layers × " + std::to_string(s.hidden) + ", " +
         std::to_string(s.tokens) + " tokens" +
         (s.text_tokens > 0 ? " + " + std::to_string(s.text_tokens) + " text" : "") +
         ", model batch " + std::to_string(s.batch);
}

std::string group_text(const MethodCase& c) {
  if (c.world_size == 1)
    return "1 process, " + std::to_string(c.threads_per_worker) + " thread(s)";
  return std::to_string(c.world_size) + " ranks, 1 core and " +
         std::to_string(c.threads_per_worker) + " thread(s) each";
}

// `baseline_cpu`: CPU seconds per step of the serial row on one core.
bench::Record make_record(const MethodCase& c, const Measurement& m, double baseline_seconds,
                          double baseline_cpu, double serial_parameter_bytes) {
  const double seconds = bench::median(m.step_seconds);
  bench::Record record{c.name,
                       c.label + ": " + group_text(c) + "; " + shape_text(m.shape) + ", " +
                           std::to_string(c.images) + " image(s)",
                       {}};
  record.add("seconds_per_step", "time per step (median of counted steps, slowest rank)", seconds,
             "s");
  record.add("seconds_per_step_best", "time per step (fastest counted step)",
             *std::min_element(m.step_seconds.begin(), m.step_seconds.end()), "s");
  // Per image, so that data parallel (several images a step) compares.
  record.add("speedup", "speedup over the serial baseline (per image)",
             baseline_seconds * static_cast<double>(c.images) / seconds);

  const bench::CommEstimate theory = bench::method_bytes_per_step(c.method, m.shape, c.world_size);
  const double sent = mean(m.sent_per_step);
  record.add("sent_mib_per_step", "sent per rank per step (median of steps, mean of ranks)",
             sent / kMiB, "MiB");
  record.add("theory_mib_per_step", "cost model: " + theory.formula, theory.bytes / kMiB, "MiB");
  record.add("measured_over_theory", "measured / cost model",
             theory.bytes > 0 ? sent / theory.bytes : kNaN);
  if (c.world_size > 1) {
    for (size_t r = 0; r < m.sent_per_step.size(); ++r) {
      record.add("sent_mib_per_step_rank" + std::to_string(r), "  rank " + std::to_string(r),
                 m.sent_per_step[r] / kMiB, "MiB");
    }
  }
  const double table = bench::table_bytes_per_step(c.method, m.shape, c.world_size);
  if (table > 0) {
    record.add("table_mib_per_step", "issue 4 table's leading term, times B*E", table / kMiB,
               "MiB");
  }
  record.add("request_sent_mib_per_step", "whole request incl. result gathers, per step",
             mean(m.request_sent_per_step) / kMiB, "MiB");
  record.add("comm_wait_seconds_per_step", "blocked in communication per step (mean of ranks)",
             mean(m.wait_per_step), "s");

  record.add("cores_used", "cores used (CPU / wall, all ranks, timed request)", m.cores_used);
  record.add("cpu_seconds_per_rank_step", "CPU time per rank per step", m.cpu_per_rank_step, "s");
  // What the speedup would be if every rank had a core and waiting were
  // free: on a shared machine, where the group did not get its cores, the
  // comparable figure.
  record.add("cpu_speedup", "speedup in CPU time per rank (serial 1 core / this, per image)",
             baseline_cpu * static_cast<double>(c.images) / m.cpu_per_rank_step);

  const double parameters = largest(m.parameter_bytes);
  record.add("parameter_mib", "transformer parameters per rank (largest)", parameters / kMiB,
             "MiB");
  record.add("parameter_ratio", "  ratio to serial", parameters / serial_parameter_bytes);
  record.add("peak_rss_mib", "peak RSS per rank (largest)", largest(m.peak_rss_bytes) / kMiB,
             "MiB");
  if (c.world_size > 1) {
    for (size_t r = 0; r < m.peak_rss_bytes.size(); ++r) {
      record.add("peak_rss_mib_rank" + std::to_string(r), "  rank " + std::to_string(r),
                 m.peak_rss_bytes[r] / kMiB, "MiB");
    }
  }
  return record;
}

bench::Record skipped_record(const MethodCase& c, const std::string& why) {
  return {c.name, c.label + ": skipped: " + why, {}};
}

std::filesystem::path make_log_dir() {
  const auto dir =
      std::filesystem::temp_directory_path() / ("xdit-bench-methods-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

const std::vector<MethodCase>& method_cases() {
  static const std::vector<MethodCase> cases = make_cases();
  return cases;
}

std::vector<bench::Record> run_method_bench(
    const std::vector<std::string>& names, const MethodBenchSettings& settings,
    const std::function<void(const bench::Record&)>& on_record) {
  const auto& all = method_cases();
  for (const auto& name : names) {
    if (std::none_of(all.begin(), all.end(), [&](const MethodCase& c) { return c.name == name; }))
      throw UsageError("xdit bench: no method case '" + name + "' (see xdit bench --list)");
  }
  if (settings.counted_steps < 1 || settings.warmup_steps < 1 || settings.warmup_requests < 0)
    throw UsageError("xdit bench: the methods need at least one counted and one warm-up step");

  const std::filesystem::path log_dir = make_log_dir();
  std::vector<bench::Record> records;
  const auto emit = [&](bench::Record record) {
    records.push_back(std::move(record));
    if (on_record)
      on_record(records.back());
  };
  const auto announce = [](const MethodCase& c) {
    std::fprintf(stderr, "running %s ...\n", c.name.c_str());
  };

  // The serial rows first: the faster is the baseline of every row.
  std::vector<std::pair<const MethodCase*, Measurement>> serial;
  for (const MethodCase& c : all) {
    if (c.method == ParallelMethod::kSerial) {
      announce(c);
      serial.emplace_back(&c, measure(c, settings, log_dir));
    }
  }
  double baseline_seconds = std::numeric_limits<double>::infinity();
  for (const auto& [c, m] : serial)
    baseline_seconds = std::min(baseline_seconds, bench::median(m.step_seconds));
  const double serial_parameters = largest(serial.front().second.parameter_bytes);
  double baseline_cpu = std::numeric_limits<double>::quiet_NaN();
  for (const auto& [c, m] : serial) {
    if (c->threads_per_worker == 1)
      baseline_cpu = m.cpu_per_rank_step;
  }
  for (const auto& [c, m] : serial)
    emit(make_record(*c, m, baseline_seconds, baseline_cpu, serial_parameters));

  for (const MethodCase& c : all) {
    if (c.method == ParallelMethod::kSerial ||
        std::find(names.begin(), names.end(), c.name) == names.end())
      continue;
    announce(c);
    std::optional<Measurement> measured;
    try {
      measured = measure(c, settings, log_dir);
    } catch (const Error& e) {
      if (!c.may_be_unavailable)
        throw;
      emit(skipped_record(c, e.what()));
      continue;
    }
    emit(make_record(c, *measured, baseline_seconds, baseline_cpu, serial_parameters));
  }
  std::filesystem::remove_all(log_dir);
  return records;
}

std::string format_method_table(const std::vector<bench::Record>& records) {
  const auto cell = [](const bench::Record& r, std::string_view key, int decimals,
                       std::string_view suffix = "") {
    const auto value = r.find(key);
    if (!value || !std::isfinite(*value))
      return std::string("n/a");
    char text[64];
    std::snprintf(text, sizeof text, "%.*f%.*s", decimals, *value, static_cast<int>(suffix.size()),
                  suffix.data());
    return std::string(text);
  };
  std::string out =
      "| method | ranks | s/step | speedup | sent MiB/rank/step | cost model MiB | measured/model "
      "| comm wait s/step | params MiB/rank | params ×serial | peak RSS MiB/rank | cores used | "
      "CPU s/rank/step | CPU speedup |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const bench::Record& r : records) {
    const auto& all = method_cases();
    const auto c =
        std::find_if(all.begin(), all.end(), [&](const MethodCase& m) { return m.name == r.name; });
    const std::string label = c == all.end() ? r.name : c->label;
    if (r.figures.empty()) {
      // A skipped row's title is "<label>: skipped: <why>".
      out += "| " + label + " | " + r.title.substr(std::min(r.title.size(), label.size() + 2)) +
             " ||||||||||||\n";
      continue;
    }
    const std::string ranks = c == all.end() ? "?" : std::to_string(c->world_size);
    out += "| " + label + " | " + ranks + " | " + cell(r, "seconds_per_step", 3) + " | " +
           cell(r, "speedup", 2, "×") + " | " + cell(r, "sent_mib_per_step", 2) + " | " +
           cell(r, "theory_mib_per_step", 2) + " | " + cell(r, "measured_over_theory", 3) + " | " +
           cell(r, "comm_wait_seconds_per_step", 3) + " | " + cell(r, "parameter_mib", 1) + " | " +
           cell(r, "parameter_ratio", 3) + " | " + cell(r, "peak_rss_mib", 0) + " | " +
           cell(r, "cores_used", 2) + " | " + cell(r, "cpu_seconds_per_rank_step", 3) + " | " +
           cell(r, "cpu_speedup", 2, "×") + " |\n";
  }
  return out;
}

}  // namespace xdit::workers
