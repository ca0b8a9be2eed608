#pragma once
// The subcommands of `xdit`. Each registers its options on the parser and
// returns the function that runs it once the command line is parsed.

#include <CLI/CLI.hpp>
#include <functional>

namespace xdit::app {

using CommandRunner = std::function<int()>;

CommandRunner add_generate_command(CLI::App& app);
CommandRunner add_verify_command(CLI::App& app);
CommandRunner add_bench_command(CLI::App& app);
CommandRunner add_plan_command(CLI::App& app);
CommandRunner add_report_command(CLI::App& app);
CommandRunner add_train_command(CLI::App& app);
CommandRunner add_check_command(CLI::App& app);

}  // namespace xdit::app
