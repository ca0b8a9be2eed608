#include "workers/group_figures.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace xdit::workers {

double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  const size_t close = text.rfind(')');
  if (close == std::string::npos)
    return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  // state(3) ... utime(14), stime(15) in proc(5)'s numbering.
  for (int number = 3; number <= 15 && fields >> field; ++number) {
    if (number >= 14)
      ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double group_cpu_seconds(const Launcher& group) {
  double total = 0;
  for (pid_t pid : group.pids())
    total += cpu_seconds(pid);
  return total;
}

std::vector<double> slowest_steps(const std::vector<MetricsMessage>& metrics) {
  std::vector<double> slowest;
  if (metrics.empty())
    return slowest;
  for (size_t step = 0; step < metrics.front().step_seconds.size(); ++step) {
    double longest = 0;
    for (const MetricsMessage& m : metrics) {
      if (step < m.step_seconds.size())
        longest = std::max(longest, m.step_seconds[step]);
    }
    slowest.push_back(longest);
  }
  return slowest;
}

double comm_counter(const nlohmann::json& comm, const char* key) {
  if (!comm.contains("total"))
    return 0;
  return comm["total"].value(key, 0.0);
}

}  // namespace xdit::workers
