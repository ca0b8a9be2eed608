// `xdit report RESULTS`: the reports of a sweep's results file, again or in
// other formats, without running anything.

#include <cstdio>
#include <memory>

#include "core/error.hpp"
#include "report/report_files.hpp"
#include "xdit/commands.hpp"

namespace xdit::app {
namespace {

struct ReportOptions {
  std::filesystem::path results;
  std::string title;
  report::ReportFiles files;
};

int run_report(const ReportOptions& options) {
  if (!options.files.any())
    throw UsageError("xdit report: name at least one of --html, --json, --csv, --pdf");
  report::SweepReport sweep = report::read_sweep_report(options.results);
  if (!options.title.empty())
    sweep.title = options.title;
  for (const auto& line : report::write_report_files(sweep, options.files))
    std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

CommandRunner add_report_command(CLI::App& app) {
  auto options = std::make_shared<ReportOptions>();
  CLI::App* command = app.add_subcommand(
      "report",
      "Write the report of a sweep's results (xdit bench --sweep) as HTML, JSON, CSV "
      "or PDF");
  command->add_option("results", options->results, "The sweep's results file (JSON lines)")
      ->required();
  command->add_option("--title", options->title, "The report's title");
  command->add_option("--html", options->files.html, "A self-contained HTML page with charts");
  command->add_option("--json", options->files.json, "The rows as JSON (docs/sweeps.md)");
  command->add_option("--csv", options->files.csv, "The figures as CSV, a line per row");
  command->add_option("--pdf", options->files.pdf, "The page printed by headless Chromium");
  return [options] { return run_report(*options); };
}

}  // namespace xdit::app
