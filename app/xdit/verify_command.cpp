// `xdit verify FILE...`: the conformance runner over reference vectors.

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "verify/conformance.hpp"
#include "xdit/commands.hpp"

namespace xdit::app {
namespace {

struct VerifyOptions {
  std::vector<std::string> files;
  std::optional<double> tolerance;
};

int run_verify(const VerifyOptions& options) {
  int failures = 0;
  for (const auto& file : options.files) {
    try {
      const verify::CaseReport report = verify::verify_reference(file, options.tolerance);
      std::printf("%s  %s (%s), tolerance %.1e\n", report.passed() ? "PASS" : "FAIL",
                  report.case_name.c_str(), report.class_name.c_str(), report.tolerance);
      for (const auto& output : report.outputs) {
        if (output.problem.empty()) {
          // The tolerance shown when float32's rounding (against float64) allows more.
          std::printf("    out.%-28s max abs error %.3e", output.name.c_str(),
                      output.max_abs_error);
          if (output.tolerance != report.tolerance)
            std::printf(" (tolerance %.1e)", output.tolerance);
          std::printf("\n");
        } else {
          std::printf("    out.%-28s %s\n", output.name.c_str(), output.problem.c_str());
        }
      }
      failures += report.passed() ? 0 : 1;
    } catch (const Error& e) {
      std::printf("ERROR %s\n    %s\n", file.c_str(), e.what());
      ++failures;
    }
  }
  std::printf("%zu passed, %d failed\n", options.files.size() - failures, failures);
  return failures == 0 ? 0 : 1;
}

}  // namespace

CommandRunner add_verify_command(CLI::App& app) {
  auto options = std::make_shared<VerifyOptions>();
  CLI::App* command = app.add_subcommand(
      "verify",
      "Run reference vectors (safetensors with w.*/in.*/out.* tensors and the config in "
      "__metadata__) through the module they name and compare every output");
  command->add_option("files", options->files, "Reference vector files")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--tol", options->tolerance,
                      "Maximum absolute error (default: the vector's own tolerance, or more where "
                      "float32's rounding, measured against a float64 run, allows more)");
  return [options] { return run_verify(*options); };
}

}  // namespace xdit::app
