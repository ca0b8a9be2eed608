#include "core/error.hpp"
#include "xdit/commands.hpp"

namespace xdit::app {

CommandRunner add_bench_command(CLI::App& app) {
  app.add_subcommand("bench", "(not yet available)");
  return [] () -> int { throw UsageError("xdit bench is not available yet"); };
}

}  // namespace xdit::app
