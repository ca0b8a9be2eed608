#pragma once
// Turns what happened to each rank of a failed group into one message that
// blames the root cause. When one rank dies, its peers soon fail too, with
// communication errors about it; the message leads with the rank that
// started it: a rank's own error first, then a rank that died without one
// (killed, crashed, exited), then a communication error.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "workers/control_protocol.hpp"
#include "workers/worker_error.hpp"

namespace xdit::workers {

struct RankFate {
  int rank = 0;
  pid_t pid = -1;
  std::optional<ErrorMessage> error;  // what it reported, if anything
  // It ended or closed its channel before the launcher began stopping it.
  bool lost = false;
  std::string exit;  // "exited with status 1", "was killed by signal 9 (Killed)"
  std::optional<std::filesystem::path> log;
};

WorkerError describe_failure(const std::vector<RankFate>& fates);

// The last lines of a log file (a crash's backtrace, an abort message).
std::string log_tail(const std::filesystem::path& log);

}  // namespace xdit::workers
