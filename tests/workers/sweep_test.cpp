// `xdit bench --sweep`: the grid a sweep file expands to, a real sweep on
// worker groups (figures, refusals, resuming), and its reports, the HTML
// drawn by headless Chromium where it is installed.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "../engine/temp_folder.hpp"
#include "core/error.hpp"
#include "report/report_files.hpp"
#include "report/sweep_report.hpp"
#include "workers/sweep_runner.hpp"
#include "workers/sweep_spec.hpp"

namespace xdit::workers {
namespace {

using testing::TempFolder;

std::vector<std::string> flags_of(const std::vector<SweepRow>& rows) {
  std::vector<std::string> out;
  for (const SweepRow& row : rows)
    out.push_back(row.flags);
  return out;
}

TEST(SweepSpec, CommandLinesSplitAndJoinAsAShellReadsThem) {
  EXPECT_EQ(split_command_line("--prompt 'a red fox' --seed  3"),
            (std::vector<std::string>{"--prompt", "a red fox", "--seed", "3"}));
  EXPECT_EQ(split_command_line(R"(--prompt "say \"hi\"" a\ b)"),
            (std::vector<std::string>{"--prompt", "say \"hi\"", "a b"}));
  const std::vector<std::string> words = {"--prompt", "it's", "x", ""};
  EXPECT_EQ(split_command_line(join_command_line(words)), words);
  EXPECT_THROW(split_command_line("--prompt 'open"), UsageError);
}

TEST(SweepSpec, TheGridCrossesEveryAxisAndAddsEachSerialTwinFirst) {
  SweepSpec spec;
  spec.models = {"builtin:tiny-pixart"};
  spec.sizes = {"64x96", "128x128"};
  spec.steps = {2};
  spec.warmup_steps = {1, 2};
  spec.configs = {"--nproc 2 --ulysses_degree 2", "--nproc 2 --pipefusion_parallel_degree 2",
                  "--nproc 1"};
  const std::vector<SweepRow> rows = expand_sweep(spec);
  // Per size: the serial row (moved before the first row that needs it),
  // Ulysses once, PipeFusion once per warm-up value.
  ASSERT_EQ(rows.size(), 8u) << ::testing::PrintToString(flags_of(rows));
  for (size_t size = 0; size < 2; ++size) {
    const SweepRow& serial = rows[4 * size];
    EXPECT_TRUE(serial.serial());
    EXPECT_EQ(serial.reference_flags, serial.flags);
    for (size_t i = 1; i < 4; ++i) {
      EXPECT_EQ(rows[4 * size + i].reference_flags, serial.flags);
      EXPECT_EQ(rows[4 * size + i].settings.request.height, size == 0 ? 64 : 128);
    }
    EXPECT_EQ(rows[4 * size + 1].settings.group.parallel.ulysses_degree, 2);
    EXPECT_FALSE(rows[4 * size + 1].stale());
    EXPECT_EQ(rows[4 * size + 2].settings.group.parallel.warmup_steps, 1);
    EXPECT_EQ(rows[4 * size + 3].settings.group.parallel.warmup_steps, 2);
  }
  // Each row is the command that reproduces it.
  const SweepRow again = parse_sweep_row(rows[2].flags);
  EXPECT_EQ(again.flags, rows[2].flags);
  EXPECT_EQ(again.nproc, 2);
  EXPECT_EQ(again.settings.request.prompts, std::vector<std::string>{spec.prompt});
}

TEST(SweepSpec, AGridWithoutASerialRowGetsOne) {
  SweepSpec spec;
  spec.configs = {"--nproc 2 --tensor_parallel_degree 2 --height 64 --width 64"};
  const std::vector<SweepRow> rows = expand_sweep(spec);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[0].serial());
  EXPECT_EQ(rows[0].settings.request.height, 64);  // a config's own size is kept
  EXPECT_EQ(rows[0].settings.group.parallel.tensor_degree, 1);
  EXPECT_EQ(rows[1].reference_flags, rows[0].flags);
}

TEST(SweepSpec, BadSweepsNameWhatIsWrong) {
  const auto message = [](const nlohmann::json& json) {
    try {
      expand_sweep(sweep_spec_from_json(json, "s.json"));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"config", {"--nproc 1"}}}).find("config"), std::string::npos);
  EXPECT_NE(message({{"sizes", {"512"}}}).find("HEIGHTxWIDTH"), std::string::npos);
  EXPECT_NE(message({{"repeats", 0}}).find("repeats"), std::string::npos);
  EXPECT_NE(message({{"configs", {"--nproc 2 --ulysses 2"}}}).find("--ulysses"), std::string::npos);
  EXPECT_NE(message({{"models", "x"}, {"steps", "four"}}).find("steps"), std::string::npos);
  TempFolder folder;
  EXPECT_THROW(read_sweep_file(folder / "missing.json"), FileError);
  std::ofstream(folder / "bad.json") << "{ not json";
  EXPECT_THROW(read_sweep_file(folder / "bad.json"), FileError);
}

std::vector<std::string> lines_of(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// A sweep small enough for the suite: tiny-pixart at 64×96, 2 steps.
SweepSpec small_sweep() {
  SweepSpec spec;
  spec.title = "test sweep";
  spec.models = {"builtin:tiny-pixart"};
  spec.sizes = {"64x96"};
  spec.steps = {2};
  spec.configs = {"--nproc 2 --ulysses_degree 2 --no_resolution_binning",
                  "--nproc 2 --pipefusion_parallel_degree 2 --no_resolution_binning",
                  "--nproc 2 --ring_degree 3 --no_resolution_binning"};
  spec.warmup_runs = 1;
  spec.repeats = 2;
  return spec;
}

TEST(Sweep, RunsEveryRowOnAGroupRecordsRefusalsAndResumes) {
  ::setenv("XDIT_WORKER", XDIT_WORKER_EXECUTABLE, 1);
  TempFolder folder;
  const SweepSpec spec = small_sweep();
  const std::vector<SweepRow> rows = expand_sweep(spec);
  ASSERT_EQ(rows.size(), 4u);  // the serial twin, then the three
  SweepOptions options;
  options.results = folder / "results.jsonl";
  int64_t last_done = 0, total = 0;
  size_t started = 0;
  SweepCallbacks callbacks;
  callbacks.on_row_start = [&](const SweepRow&, size_t, size_t) { ++started; };
  callbacks.on_progress = [&](const SweepProgress& p) {
    EXPECT_EQ(p.steps_done, last_done + 1);
    last_done = p.steps_done;
    total = p.steps_total;
  };
  const auto results = run_sweep(rows, spec, {{"cpu", "test"}}, options, callbacks);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(started, 4u);
  // Three rows ran (1 warm-up and 2 timed requests of 2 steps); the refused
  // one left the total.
  EXPECT_EQ(last_done, 3 * 3 * 2);
  EXPECT_EQ(total, last_done);

  for (size_t i = 0; i < 3; ++i) {
    const auto& row = results[i];
    SCOPED_TRACE(row.dump());
    ASSERT_EQ(row["status"], "ok");
    EXPECT_EQ(row["flags"], rows[i].flags);
    EXPECT_EQ(row["command"], "xdit generate " + rows[i].flags);
    const auto& s = row["step_seconds"];
    EXPECT_EQ(s["count"], 4);  // 2 timed requests × 2 steps
    EXPECT_LE(s["min"].get<double>(), s["median"].get<double>());
    EXPECT_LE(s["median"].get<double>(), s["p90"].get<double>());
    EXPECT_LE(s["p90"].get<double>(), s["max"].get<double>());
    EXPECT_GT(s["min"].get<double>(), 0);
    ASSERT_EQ(row["ranks"].size(), rows[i].serial() ? 1u : 2u);
    for (const auto& rank : row["ranks"]) {
      EXPECT_GT(rank["peak_memory_bytes"].get<double>(), 0);
      EXPECT_GT(rank["parameter_bytes"].get<double>(), 0);
      EXPECT_EQ(rank["memory"], "rss");
    }
    EXPECT_EQ(row["width"], 96);
    EXPECT_TRUE(row.contains("cost_model"));
    EXPECT_FALSE(row.contains("predicted"));  // no calibration given
  }
  // Ulysses: every byte the cost model counts, and the serial image.
  const auto& ulysses = results[1];
  EXPECT_EQ(ulysses["mesh"], "ulysses 2");
  EXPECT_NEAR(ulysses["ranks"][0]["bytes_sent_per_step"].get<double>(),
              ulysses["cost_model"]["bytes_sent_per_step"].get<double>(), 1.0);
  ASSERT_TRUE(ulysses.contains("quality"));
  EXPECT_LE(ulysses["quality"]["max_abs_levels"].get<double>(), 1.0);
  // PipeFusion's stale patches: compared, not identical.
  ASSERT_TRUE(results[2].contains("quality"));
  EXPECT_GT(results[2]["quality"]["max_abs_levels"].get<double>(), 0);
  // The impossible row is recorded with its reason.
  EXPECT_EQ(results[3]["status"], "refused");
  EXPECT_NE(results[3]["reason"].get<std::string>().find("--nproc 3"), std::string::npos);

  // A rerun resumes: nothing left to run.
  started = 0;
  const auto again = run_sweep(rows, spec, {{"cpu", "test"}}, options, callbacks);
  EXPECT_EQ(started, 0u);
  EXPECT_EQ(again, results);
  // A sweep killed while writing its last row runs that row again.
  std::vector<std::string> lines = lines_of(options.results);
  ASSERT_EQ(lines.size(), 5u);  // header and 4 rows
  lines.back().resize(lines.back().size() / 2);
  {
    std::ofstream out(options.results, std::ios::trunc);
    for (const auto& line : lines)
      out << line << '\n';
  }
  const auto resumed = run_sweep(rows, spec, {{"cpu", "test"}}, options, callbacks);
  EXPECT_EQ(started, 1u);
  EXPECT_EQ(resumed[3]["status"], "refused");
  EXPECT_EQ(read_sweep_results(options.results).rows.size(), 4u);

  // The reports of these results.
  report::SweepReport sweep;
  sweep.title = "test sweep";
  sweep.environment = read_sweep_results(options.results).header["environment"];
  sweep.rows = resumed;
  const std::string csv = report::report_csv(sweep);
  std::istringstream csv_lines(csv);
  std::string header;
  std::getline(csv_lines, header);
  EXPECT_EQ(header.rfind("command,model,height,width", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
  EXPECT_NE(csv.find("refused"), std::string::npos);
  // Ulysses against its serial twin in the same sweep.
  const double speedup = report::speedup_of(resumed[1], resumed);
  EXPECT_NEAR(speedup,
              resumed[0]["step_seconds"]["median"].get<double>() /
                  resumed[1]["step_seconds"]["median"].get<double>(),
              1e-12);
  EXPECT_TRUE(std::isnan(report::speedup_of(resumed[3], resumed)));
}

TEST(Sweep, ACorruptResultsFileIsRefusedNamingIt) {
  TempFolder folder;
  std::ofstream(folder / "r.jsonl") << "{\"format\": \"xdit-sweep/1\"}\nnot json\n{}\n";
  try {
    read_sweep_results(folder / "r.jsonl");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("r.jsonl"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos);
  }
}

// Figures shaped like a sweep's, without running one.
report::SweepReport synthetic_report() {
  report::SweepReport r;
  r.title = "synthetic <sweep>";
  r.environment = {{"cpu", "test CPU"}, {"xdit", "0.1.0"}};
  const auto row = [](const std::string& flags, const std::string& mesh, int world, double median,
                      const std::string& reference) {
    nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
    for (int k = 0; k < world; ++k) {
      ranks.push_back({{"rank", k},
                       {"seconds_per_step", median},
                       {"compute_seconds_per_step", median * 0.8},
                       {"comm_wait_seconds_per_step", median * 0.2},
                       {"bytes_sent_per_step", world > 1 ? 1048576.0 : 0.0},
                       {"parameter_bytes", 1e6},
                       {"peak_memory_bytes", 2e8 + k * 1e7},
                       {"memory", "rss"}});
    }
    return nlohmann::ordered_json{
        {"flags", flags},
        {"command", "xdit generate " + flags},
        {"reference", reference},
        {"model", "builtin:tiny-pixart"},
        {"height", 64},
        {"width", 64},
        {"steps", 2},
        {"world_size", world},
        {"mesh", mesh},
        {"status", "ok"},
        {"step_seconds",
         {{"median", median},
          {"min", median * 0.9},
          {"max", median * 1.2},
          {"p90", median * 1.1},
          {"count", 4}}},
        {"ranks", ranks},
        {"cost_model",
         {{"bytes_sent_per_step", world > 1 ? 1048576.0 : 0.0}, {"memory_per_rank_bytes", 1.5e8}}},
        {"predicted", {{"seconds_per_step", median * 0.95}}}};
  };
  r.rows = {row("--nproc 1", "serial", 1, 1.0, "--nproc 1"),
            row("--nproc 2 --ulysses_degree 2", "ulysses 2", 2, 0.6, "--nproc 1"),
            row("--nproc 4 --ring_degree 4", "ring 4", 4, 0.4, "--nproc 1"),
            {{"flags", "--nproc 3 --ring_degree 2"},
             {"command", "xdit generate --nproc 3 --ring_degree 2"},
             {"mesh", "ring 2"},
             {"world_size", 3},
             {"height", 64},
             {"width", 64},
             {"steps", 2},
             {"status", "refused"},
             {"reason", "the degrees must multiply to the number of processes"}}};
  return r;
}

TEST(SweepReport, TheHtmlIsSelfContainedAndNamesEveryRow) {
  const report::SweepReport r = synthetic_report();
  const std::string html = report::report_html(r, "/* chart.js */");
  EXPECT_NE(html.find("<h1>synthetic &lt;sweep&gt;</h1>"), std::string::npos);
  EXPECT_NE(html.find("/* chart.js */"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);  // nothing fetched at view time
  EXPECT_EQ(html.find("https://"), std::string::npos);
  for (const char* id :
       {"chart-latency", "chart-speedup", "chart-memory", "chart-bytes", "chart-split"}) {
    EXPECT_NE(html.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  }
  EXPECT_NE(html.find("xdit generate --nproc 4 --ring_degree 4"), std::string::npos);
  EXPECT_NE(html.find("refused: the degrees must multiply"), std::string::npos);
  EXPECT_NE(html.find("test CPU"), std::string::npos);
  const nlohmann::ordered_json json = report::report_json(r);
  EXPECT_EQ(json["format"], "xdit-sweep-report/1");
  EXPECT_EQ(json["rows"].size(), 4u);
}

// What Chromium's DOM says after the page's scripts ran.
std::string rendered_body(const std::filesystem::path& html, const std::filesystem::path& profile) {
  const std::string command =
      "'" + report::find_chromium() + "' --headless --no-sandbox --disable-gpu --user-data-dir='" +
      profile.string() + "' --dump-dom 'file://" + html.string() + "' 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string dom;
  char buffer[4096];
  for (size_t n; pipe && (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;)
    dom.append(buffer, n);
  if (pipe)
    ::pclose(pipe);
  const size_t body = dom.find("<body");
  return body == std::string::npos ? "" : dom.substr(body, dom.find('>', body) - body + 1);
}

TEST(SweepReport, ChromiumDrawsEveryChartAndPrintsAPdf) {
  if (report::find_chromium().empty())
    GTEST_SKIP() << "no chromium (apt-get install chromium): the charts are not checked";
  std::string chart_js;
  try {
    chart_js = report::read_chart_js();
  } catch (const FileError& e) {
    GTEST_SKIP() << e.what();
  }
  TempFolder folder;
  report::ReportFiles files;
  files.html = folder / "report.html";
  files.pdf = folder / "report.pdf";
  files.csv = folder / "report.csv";
  files.json = folder / "report.json";
  EXPECT_EQ(report::write_report_files(synthetic_report(), files).size(), 4u);
  EXPECT_EQ(rendered_body(*files.html, folder / "profile"),
            "<body data-charts=\"5\" data-charts-drawn=\"5\">");
  std::ifstream pdf(*files.pdf, std::ios::binary);
  std::string magic(5, '\0');
  pdf.read(magic.data(), 5);
  EXPECT_EQ(magic, "%PDF-");

  // Without Chart.js the page says so, and draws nothing.
  const std::string broken = report::report_html(synthetic_report(), "");
  std::ofstream(folder / "broken.html") << broken;
  EXPECT_EQ(rendered_body(folder / "broken.html", folder / "profile"), "<body>");
}

TEST(SweepReport, MissingChartJsIsAFileErrorNamingThePackage) {
  ::setenv("XDIT_CHART_JS", "/nonexistent/chart.min.js", 1);
  try {
    report::read_chart_js();
    FAIL() << "no error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("libjs-chart.js"), std::string::npos);
  }
  ::unsetenv("XDIT_CHART_JS");
}

}  // namespace
}  // namespace xdit::workers
