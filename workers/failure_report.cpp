#include "workers/failure_report.hpp"

#include <fstream>
#include <sstream>

namespace xdit::workers {
namespace {

// Lower is closer to the root cause.
int blame(const RankFate& fate) {
  if (fate.error && fate.error->kind != "comm")
    return 0;
  if (fate.lost && !fate.error)
    return 1;
  if (fate.error)
    return 2;
  return 3;  // stopped by the launcher because of another rank
}

std::string what_happened(const RankFate& fate) {
  const std::string who =
      "rank " + std::to_string(fate.rank) + " (pid " + std::to_string(fate.pid) + ")";
  if (fate.error) {
    // Engine errors often name the rank already.
    std::string text = fate.error->message;
    const std::string prefix = "rank " + std::to_string(fate.rank) + ": ";
    if (text.rfind(prefix, 0) == 0)
      text.erase(0, prefix.size());
    return who + " failed: " + text;
  }
  std::string text = who + " " + fate.exit;
  if (fate.exit.find("status 0") != std::string::npos)
    text += " before its work was done";
  if (fate.log) {
    const std::string tail = log_tail(*fate.log);
    if (!tail.empty())
      text += "; its last output:\n" + tail;
  }
  return text;
}

}  // namespace

std::string log_tail(const std::filesystem::path& log) {
  constexpr size_t kTail = 2000;
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  std::string all = text.str();
  if (all.size() <= kTail)
    return all;
  all = all.substr(all.size() - kTail);
  return "..." + all.substr(std::min(all.size(), all.find('\n') + 1));
}

WorkerError describe_failure(const std::vector<RankFate>& fates) {
  const RankFate* cause = nullptr;
  for (const RankFate& fate : fates) {
    if (!cause || blame(fate) < blame(*cause))
      cause = &fate;
  }
  if (!cause)
    return WorkerError(WorkerError::kNoRank, "the worker group failed");
  std::string message = what_happened(*cause);
  const size_t others = fates.size() - 1;
  if (others > 0) {
    message += others == 1 ? "; the other worker was stopped"
                           : "; the other " + std::to_string(others) + " workers were stopped";
  }
  return WorkerError(cause->rank, message);
}

}  // namespace xdit::workers
