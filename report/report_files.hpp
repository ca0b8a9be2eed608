#pragma once
// Writes a sweep report in the formats asked for, each atomically. The PDF
// is the HTML page printed by headless Chromium (Debian's `chromium`, or
// $XDIT_CHROMIUM), charts included.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "report/sweep_report.hpp"

namespace xdit::report {

struct ReportFiles {
  std::optional<std::filesystem::path> html, json, csv, pdf;
  bool any() const { return html || json || csv || pdf; }
};

// The report of a sweep's results file (workers/sweep_runner.hpp): its
// header's environment and spec, its rows. FileError for a file that is not
// one.
SweepReport read_sweep_report(const std::filesystem::path& results);

// Returns a line per file written ("report written to x.html"). FileError
// naming the file that cannot be written, or Chromium when it is missing or
// fails.
std::vector<std::string> write_report_files(const SweepReport& report, const ReportFiles& files);

// The browser for the PDF and the tests: $XDIT_CHROMIUM, else chromium on
// the PATH; empty where there is none.
std::string find_chromium();

// Prints `html` to `pdf` with headless Chromium; FileError on failure.
void print_to_pdf(const std::filesystem::path& html, const std::filesystem::path& pdf);

}  // namespace xdit::report
