#include "report/report_files.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "core/error.hpp"
#include "io/atomic_write.hpp"
#include "workers/child_process.hpp"
#include "workers/private_directory.hpp"
#include "workers/sweep_runner.hpp"

extern char** environ;

namespace xdit::report {

std::string find_chromium() {
  if (const char* chosen = std::getenv("XDIT_CHROMIUM"); chosen && *chosen)
    return chosen;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
      const auto candidate = std::filesystem::path(dirs.substr(start, end - start)) / name;
      if (::access(candidate.c_str(), X_OK) == 0)
        return candidate.string();
    }
    start = end + 1;
  }
  return "";
}

void print_to_pdf(const std::filesystem::path& html, const std::filesystem::path& pdf) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    throw FileError(pdf.string(),
                    "the PDF is printed by headless Chromium, which is not "
                    "installed (apt-get install chromium, or set XDIT_CHROMIUM)");
  }
  const workers::PrivateDirectory profile("xdit-chromium");
  const auto temporary = std::filesystem::path(pdf.string() + ".part");
  workers::SpawnOptions options;
  options.argv = {chromium,
                  "--headless",
                  "--no-sandbox",
                  "--disable-gpu",
                  "--user-data-dir=" + profile.path().string(),
                  "--no-pdf-header-footer",
                  "--print-to-pdf=" + temporary.string(),
                  "file://" + std::filesystem::absolute(html).string()};
  for (char** e = environ; *e; ++e)
    options.env.emplace_back(*e);
  options.log = profile.path() / "chromium.log";
  workers::ChildProcess browser = workers::ChildProcess::spawn(options);
  if (!browser.wait_for(std::chrono::minutes(2))) {
    browser.kill_and_reap();
    throw FileError(pdf.string(), "Chromium (" + chromium + ") did not print within 2 minutes");
  }
  if (!browser.exited_cleanly() || !std::filesystem::exists(temporary)) {
    throw FileError(pdf.string(),
                    "Chromium (" + chromium + ") " + browser.describe_exit() + " while printing");
  }
  std::filesystem::rename(temporary, pdf);
}

SweepReport read_sweep_report(const std::filesystem::path& results) {
  const workers::SweepResults read = workers::read_sweep_results(results);
  if (read.header.is_null())
    throw FileError(results.string(), "not a sweep's results (no xdit-sweep/1 header line)");
  SweepReport out;
  out.environment = read.header.value("environment", nlohmann::ordered_json::object());
  out.spec = read.header.value("spec", nlohmann::ordered_json());
  out.title = out.spec.is_object() ? out.spec.value("title", "") : "";
  if (out.title.empty())
    out.title = "xdit sweep: " + results.filename().string();
  out.rows = read.rows;
  return out;
}

std::vector<std::string> write_report_files(const SweepReport& report, const ReportFiles& files) {
  std::vector<std::string> written;
  if (files.json) {
    io::write_file_atomically(*files.json, {report_json(report).dump(2) + "\n"});
    written.push_back("report (JSON) written to " + files.json->string());
  }
  if (files.csv) {
    io::write_file_atomically(*files.csv, {report_csv(report)});
    written.push_back("report (CSV) written to " + files.csv->string());
  }
  if (files.html || files.pdf) {
    const std::string page = report_html(report, read_chart_js());
    std::optional<workers::PrivateDirectory> scratch;
    std::filesystem::path html;
    if (files.html) {
      html = *files.html;
    } else {
      scratch.emplace("xdit-report");
      html = scratch->path() / "report.html";
    }
    io::write_file_atomically(html, {page});
    if (files.html)
      written.push_back("report (HTML) written to " + html.string());
    if (files.pdf) {
      print_to_pdf(html, *files.pdf);
      written.push_back("report (PDF) written to " + files.pdf->string());
    }
  }
  return written;
}

}  // namespace xdit::report
