#include "bench/timing.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <limits>

#include "bench/statistics.hpp"

namespace xdit::bench {
namespace {

double cpu_now() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

}  // namespace

Sample time_once(const std::function<void()>& run) {
  const double cpu_start = cpu_now();
  const auto wall_start = std::chrono::steady_clock::now();
  run();
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count(),
          cpu_now() - cpu_start};
}

int Timing::best_index() const {
  const auto fastest = std::min_element(
      samples_.begin(), samples_.end(),
      [](const Sample& a, const Sample& b) { return a.wall_seconds < b.wall_seconds; });
  return static_cast<int>(fastest - samples_.begin());
}

double Timing::best() const {
  return empty() ? std::numeric_limits<double>::quiet_NaN() : samples_[best_index()].wall_seconds;
}

double Timing::median() const {
  std::vector<double> wall;
  for (const Sample& sample : samples_)
    wall.push_back(sample.wall_seconds);
  return bench::median(std::move(wall));
}

double Timing::cpu_per_wall() const {
  if (empty())
    return std::numeric_limits<double>::quiet_NaN();
  const Sample& fastest = samples_[best_index()];
  return fastest.cpu_seconds / fastest.wall_seconds;
}

Timing time_runs(const std::function<void()>& run, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i)
    run();
  Timing timing;
  for (int i = 0; i < repeats; ++i)
    timing.add(time_once(run));
  return timing;
}

}  // namespace xdit::bench
