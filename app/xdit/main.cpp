// xdit: generate images, check conformance and measure speed from the shell.

#include <spdlog/spdlog.h>

#include <cstdio>
#include <map>

#include "core/build_info.hpp"
#include "core/error.hpp"
#include "xdit/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "xdit: hybrid-parallel Diffusion Transformer inference (PixArt-α/Σ, SD3/SD3.5, Flux.1)",
      "xdit"};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       "xdit " + xdit::xdit_version() + " (" + xdit::git_revision() + ")");
  std::map<CLI::App*, xdit::app::CommandRunner> runners;
  for (auto add :
       {xdit::app::add_generate_command, xdit::app::add_verify_command,
        xdit::app::add_bench_command, xdit::app::add_plan_command, xdit::app::add_report_command,
        xdit::app::add_train_command, xdit::app::add_check_command}) {
    const size_t before = app.get_subcommands({}).size();
    auto runner = add(app);
    runners[app.get_subcommands({}).at(before)] = std::move(runner);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (const auto& [command, run] : runners) {
      if (command->parsed())
        return run();
    }
  } catch (const xdit::Error& e) {
    std::fprintf(stderr, "xdit: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xdit: internal error: %s\n", e.what());
    return 3;
  }
  return 1;
}
