#pragma once
// Wall-clock and CPU time of repeated runs. The fastest run is the figure a
// benchmark reports: on a shared machine every other run was slowed by
// someone else. CPU over wall time shows how much of the cores the process
// had: about the thread count on an idle machine, less when it shared them.

#include <functional>
#include <vector>

namespace xdit::bench {

struct Sample {
  double wall_seconds = 0;
  double cpu_seconds = 0;  // process CPU time, all threads
};

// Runs `run` once, timed.
Sample time_once(const std::function<void()>& run);

class Timing {
 public:
  void add(const Sample& sample) { samples_.push_back(sample); }
  bool empty() const { return samples_.empty(); }
  int count() const { return static_cast<int>(samples_.size()); }
  // Wall seconds of the fastest run, and the index of that run.
  double best() const;
  int best_index() const;
  double median() const;
  // CPU seconds over wall seconds of the fastest run.
  double cpu_per_wall() const;

 private:
  std::vector<Sample> samples_;
};

// `warmup` untimed runs, then `repeats` timed ones.
Timing time_runs(const std::function<void()>& run, int warmup, int repeats);

}  // namespace xdit::bench
