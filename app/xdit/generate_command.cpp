#include "core/error.hpp"
#include "xdit/commands.hpp"

namespace xdit::app {

CommandRunner add_generate_command(CLI::App& app) {
  app.add_subcommand("generate", "(not yet available)");
  return [] () -> int { throw UsageError("xdit generate is not available yet"); };
}

}  // namespace xdit::app
