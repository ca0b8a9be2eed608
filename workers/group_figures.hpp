#pragma once
// Figures a benchmark reads off a running worker group: the CPU time its
// processes used, the step times and the communication counters the ranks
// report with their progress and metrics. Shared by `xdit bench --cases methods` and
// `xdit bench --sweep`.

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "workers/launcher.hpp"

namespace xdit::workers {

// User and system CPU seconds of process `pid` so far (0 if unreadable).
double cpu_seconds(pid_t pid);

// Of every worker of the group.
double group_cpu_seconds(const Launcher& group);

// Each step's time at its slowest rank, over the steps rank 0 reported.
std::vector<double> slowest_steps(const std::vector<MetricsMessage>& metrics);

// A counter of a rank's communication report ("bytes_sent",
// "wait_seconds", ...) summed over its groups; 0 where it is absent.
double comm_counter(const nlohmann::json& comm, const char* key);

}  // namespace xdit::workers
